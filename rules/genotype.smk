# Genotype cohorts (source: vcf): import, relatedness curation, imputation after the split.
