"""seq2pheno: predict quantitative phenotypes from DNA sequences or genotypes with CNNs.

Each module is one concept of the field (simulate, encode, sources, curate, split, models,
train, evaluate, ism, filters, interactions, vcf, kinship, plots, report). Functions take
arrays (one-hot tensors are float32, shape N x L x 4, columns A, C, G, T) and models, and
return arrays or plain dicts. The library never imports snakemake.
"""

__version__ = "0.1.0"
