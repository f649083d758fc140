"""Command-line interface: parse options, call one library function, map errors.

Library modules never import click; this module is the only one that does.
"""

from __future__ import annotations

import functools
import os
import sys

import click

from . import __version__
from .errors import RewriterError
from .settings import Settings


def model_options(fn):
    """Options that say which model to talk to, spelled the same by every command."""
    options = [
        click.option("--base-url", default=None, metavar="URL",
                     help="Chat API base URL [env MISTRAL_BASE_URL; default https://api.mistral.ai/v1]. "
                          "Any OpenAI-compatible server works: vLLM, Ollama, llama.cpp, LM Studio."),
        click.option("--model", default=None,
                     help="Model name [env REWRITER_MODEL; default mistral-small-latest]."),
        click.option("--api-key-env", default=None, metavar="NAME",
                     help="Environment variable holding the API key [default MISTRAL_API_KEY]. "
                          "Local servers may need none."),
        click.option("--temperature", type=float, default=0.0, show_default=True,
                     help="Sampling temperature, 0 to 1."),
        click.option("--timeout", type=float, default=120.0, show_default=True,
                     help="Seconds to wait for one reply."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def cache_options(fn):
    """Where validated replies are cached, and a way to bypass the cache."""
    fn = click.option("--no-cache", is_flag=True, help="Neither read nor write the reply cache.")(fn)
    fn = click.option("--cache-dir", default=None, metavar="DIR",
                      help="Reply cache folder [env REWRITER_CACHE_DIR; default .cache/rewriter].")(fn)
    return fn


def encoding_option(fn):
    return click.option("--encoding", default="utf-8", show_default=True,
                        help="Encoding of the articles, e.g. cp1252 for old Windows files.")(fn)


def settings_from(options: dict, **extra) -> Settings:
    """Build settings from the shared model and cache options."""
    return Settings.from_env(
        base_url=options.get("base_url"),
        model=options.get("model"),
        api_key_env=options.get("api_key_env"),
        temperature=options.get("temperature"),
        timeout=options.get("timeout"),
        cache_dir=options.get("cache_dir"),
        use_cache=not options.get("no_cache", False),
        **extra,
    )


def friendly_errors(fn):
    """Turn the project's own errors into one clean line (set REWRITER_RAISE_ERRORS=1 to see tracebacks)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RewriterError as exc:
            if os.environ.get("REWRITER_RAISE_ERRORS"):
                raise
            raise click.ClickException(str(exc)) from None
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rewriter")
def cli():
    """Find what makes an article unfit to publish, and propose sourced fixes.

    \b
    Typical loop:
      rewriter check articles/          list placeholders, debris, dangling citations
      rewriter run articles/X.txt       ask the model for sourced corrections -> out/X/
      rewriter review out/X             accept or reject each change
      rewriter apply out/X --commit     write the accepted changes, commit them

    Nothing in articles/ changes until `apply`.
    """


def main():
    cli(prog_name="rewriter")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
