"""Pages that state the correct facts behind the seeds' dubious claims, and the claims themselves.

Written for the tests (not copied from any site): short encyclopedia-style pages in French and
English, with distractors that share numbers and names (Paris's population, GPT-4's release date,
Azure's launch year), served by the fake Wikipedia.

``SEED_CLAIMS`` is what a good model would flag in the five seeds: the phrase as the article writes
it, the category, the correction in the article's language, the queries it would plan, and the
strings that mark a passage settling it (the fake editor model cites the sentence holding one).
"""

from __future__ import annotations

WIKI = {
    "fr": {
        "Mixtral": (
            "Mixtral est une famille de grands modèles de langage développés par la start-up française "
            "Mistral AI.\n"
            "Mixtral 8x7B a été publié le 11 décembre 2023 sous licence Apache 2.0. Il s'agit d'un modèle à "
            "mélange d'experts qui compte 46,7 milliards de paramètres au total, dont 12,9 milliards sont "
            "utilisés pour chaque jeton.\n"
            "Selon Mistral AI, Mixtral 8x7B surpasse Llama 2 70B et égale ou dépasse GPT-3.5 sur la plupart "
            "des bancs d'essai."),
        "Mistral AI": (
            "Mistral AI est une entreprise française spécialisée dans l'intelligence artificielle, fondée en "
            "avril 2023 par Arthur Mensch, Guillaume Lample et Timothée Lacroix.\n"
            "En février 2024, Mistral AI a annoncé un partenariat avec Microsoft, qui distribue Mistral Large "
            "sur sa plateforme Azure et a investi 15 millions d'euros dans l'entreprise.\n"
            "En septembre 2025, Mistral AI a levé 1,7 milliard d'euros lors d'un tour de table mené par ASML, "
            "ce qui porte la valorisation de l'entreprise à 11,7 milliards d'euros."),
        "Microsoft": (
            "Microsoft Corporation est une multinationale informatique américaine fondée en 1975 par Bill Gates "
            "et Paul Allen.\n"
            "Le siège de Microsoft se trouve à Redmond, dans l'État de Washington, aux États-Unis.\n"
            "La société développe notamment le système d'exploitation Windows et la plateforme de cloud Azure."),
        "Paris": (
            "Paris est la capitale de la France. Au 1er janvier 2023, la commune comptait 2 102 650 habitants.\n"
            "Les Hauts-de-Seine, département 92, bordent Paris à l'ouest ; le département compte 12 milliards "
            "d'euros de budget cumulé sur la décennie selon une estimation locale."),
    },
    "en": {
        "Mixtral": (
            "Mixtral 8x7B is a sparse mixture-of-experts language model released by Mistral AI on "
            "11 December 2023.\n"
            "It has 46.7 billion total parameters but uses only 12.9 billion parameters per token.\n"
            "Mistral AI reported that Mixtral outperforms Llama 2 70B and matches or beats GPT-3.5 on most "
            "standard benchmarks."),
        "OpenAI": (
            "OpenAI is an American artificial intelligence organisation founded in December 2015.\n"
            "In October 2024, OpenAI raised $6.6 billion in a funding round that valued the company at "
            "$157 billion.\n"
            "Microsoft has invested about $13 billion in OpenAI since 2019."),
        "GPT-4": (
            "GPT-4 is a large language model released by OpenAI on March 14, 2023.\n"
            "OpenAI did not disclose the number of parameters of GPT-4; press reports estimated about "
            "1.7 trillion parameters."),
        "Microsoft Azure": (
            "Microsoft Azure is the cloud computing platform of Microsoft, launched in February 2010.\n"
            "Azure is operated from Microsoft's headquarters in Redmond, Washington."),
    },
}

# phrase -> (category, correction, queries, cues)
SEED_CLAIMS = {
    "Le 23 mars 2023": ("factual_error", "Le 11 décembre 2023",
                        [("Mixtral date de publication", "fr"), ("Mixtral release date", "en")],
                        ("11 décembre 2023", "11 December 2023")),
    "12 milliards de paramètres": ("factual_error", "46,7 milliards de paramètres",
                                   [("Mixtral nombre de paramètres", "fr"), ("Mixtral parameters", "en")],
                                   ("46,7 milliards", "46.7 billion")),
    "plus grands comme GPT-4": ("factual_error", "plus grands comme Llama 2 70B",
                                [("Mixtral bancs d'essai Llama", "fr"), ("Mixtral outperforms Llama 2 70B", "en")],
                                ("Llama 2 70B",)),
    "Miscrosoft": ("typo", "Microsoft", [("Microsoft Azure Mistral Large", "fr")], ("Microsoft, qui distribue",)),
    "firme de Richmond": ("factual_error", "firme de Redmond", [("Microsoft siège", "fr"),
                                                              ("Microsoft headquarters", "en")],
                          ("siège de Microsoft se trouve à Redmond",)),
    "valorisée 2 milliards de dollars": ("outdated", "valorisée 11,7 milliards d'euros",
                                         [("Mistral AI valorisation", "fr"), ("Mistral AI levée de fonds", "fr")],
                                         ("11,7 milliards d'euros",)),
    "valorisation de 80 milliards de dollars": ("outdated", "valorisation de 157 milliards de dollars",
                                                [("OpenAI valuation", "en"), ("OpenAI valorisation", "fr")],
                                                ("$157 billion",)),
}
