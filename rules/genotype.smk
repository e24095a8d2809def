# Genotype cohorts (source: vcf, markers or plink): import, KING relatedness curation, split with covariates
# regressed out on the training split, imputation of missing calls, scoring of new VCFs.
# The step functions live in seq2pheno/genotype_steps.py; docs/genotypes.md explains them.
# Input functions and VCF_COHORTS / PREDICT are at the end of rules/common.smk. A markers or
# plink cohort has its own import rule writing the same files; the rules after import serve
# every genotype cohort (GENOTYPE_COHORTS).


# A cohort with `import_chunks: K` > 1 is read in K scatter jobs (import_vcf_chunk: one piece
# of the genome each) and joined by gather_vcf_chunks into the files import_vcf writes, byte
# for byte. One scattergather name per such cohort: `--set-scatter vcf_import_<cohort>=N`.
scattergather:
    **{vcf_scatter_name(c): COHORTS[c]["import_chunks"] for c in VCF_CHUNKED_COHORTS},


rule import_vcf:
    input:
        unpack(vcf_inputs),
    output:
        samples="results/{cohort}/data/samples.tsv",
        onehot="results/{cohort}/data/onehot.npy",
        features="results/{cohort}/data/features.tsv",
        missing="results/{cohort}/data/missing.npy",
        dosage="results/{cohort}/data/dosage.npy",
        filtered="results/{cohort}/data/filtered.tsv",
        summary="results/{cohort}/data/import_summary.json",
    log:
        "results/{cohort}/logs/import.log",
    benchmark:
        "results/{cohort}/benchmarks/import.tsv"
    wildcard_constraints:
        cohort=one_of(VCF_SINGLE_COHORTS),
    conda:
        "../envs/data.yaml"
    params:
        cohort=vcf_cohort_entry,
    script:
        "../scripts/import_vcf.py"


rule import_markers:
    input:
        unpack(markers_inputs),
    output:
        samples="results/{cohort}/data/samples.tsv",
        onehot="results/{cohort}/data/onehot.npy",
        features="results/{cohort}/data/features.tsv",
        missing="results/{cohort}/data/missing.npy",
        dosage="results/{cohort}/data/dosage.npy",
        filtered="results/{cohort}/data/filtered.tsv",
        summary="results/{cohort}/data/import_summary.json",
    log:
        "results/{cohort}/logs/import.log",
    benchmark:
        "results/{cohort}/benchmarks/import.tsv"
    wildcard_constraints:
        cohort=one_of(cohorts_from("markers")),
    conda:
        "../envs/data.yaml"
    params:
        cohort=vcf_cohort_entry,
    script:
        "../scripts/import_markers.py"


rule import_plink:
    input:
        unpack(plink_inputs),
    output:
        samples="results/{cohort}/data/samples.tsv",
        onehot="results/{cohort}/data/onehot.npy",
        features="results/{cohort}/data/features.tsv",
        missing="results/{cohort}/data/missing.npy",
        dosage="results/{cohort}/data/dosage.npy",
        filtered="results/{cohort}/data/filtered.tsv",
        summary="results/{cohort}/data/import_summary.json",
    log:
        "results/{cohort}/logs/import.log",
    benchmark:
        "results/{cohort}/benchmarks/import.tsv"
    wildcard_constraints:
        cohort=one_of(cohorts_from("plink")),
    conda:
        "../envs/data.yaml"
    params:
        cohort=vcf_cohort_entry,
    script:
        "../scripts/import_plink.py"


rule bgzip_vcf:
    input:
        vcf=lambda wildcards: COHORTS[wildcards.cohort]["vcf"],
    output:
        temp("results/{cohort}/data/chunks/input.vcf.gz"),
    log:
        "results/{cohort}/logs/import_chunks/bgzip.log",
    benchmark:
        "results/{cohort}/benchmarks/import_chunks/bgzip.tsv"
    wildcard_constraints:
        cohort=one_of(VCF_CHUNKED_PLAIN),
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/bgzip_vcf.py"


rule index_vcf:
    input:
        vcf=vcf_chunk_source,
    output:
        "results/{cohort}/data/chunks/input.csi",
    log:
        "results/{cohort}/logs/import_chunks/index.log",
    benchmark:
        "results/{cohort}/benchmarks/import_chunks/index.tsv"
    wildcard_constraints:
        cohort=one_of(VCF_CHUNKED_UNINDEXED),
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/index_vcf.py"


rule import_vcf_chunk:
    input:
        unpack(vcf_chunk_inputs),
    output:
        temp("results/{cohort}/data/chunks/{scatteritem}.npz"),
    log:
        "results/{cohort}/logs/import_chunks/{scatteritem}.log",
    benchmark:
        "results/{cohort}/benchmarks/import_chunks/{scatteritem}.tsv"
    wildcard_constraints:
        cohort=one_of(VCF_CHUNKED_COHORTS),
    conda:
        "../envs/data.yaml"
    params:
        cohort=vcf_chunk_entry,
    script:
        "../scripts/import_vcf_chunk.py"


rule gather_vcf_chunks:
    input:
        unpack(vcf_gather_inputs),
    output:
        samples="results/{cohort}/data/samples.tsv",
        onehot="results/{cohort}/data/onehot.npy",
        features="results/{cohort}/data/features.tsv",
        missing="results/{cohort}/data/missing.npy",
        dosage="results/{cohort}/data/dosage.npy",
        filtered="results/{cohort}/data/filtered.tsv",
        summary="results/{cohort}/data/import_summary.json",
    log:
        "results/{cohort}/logs/import.log",
    benchmark:
        "results/{cohort}/benchmarks/import.tsv"
    wildcard_constraints:
        cohort=one_of(VCF_CHUNKED_COHORTS),
    conda:
        "../envs/data.yaml"
    params:
        cohort=vcf_cohort_entry,
    script:
        "../scripts/gather_vcf_chunks.py"


rule curate_genotypes:
    input:
        samples="results/{cohort}/data/samples.tsv",
        dosage="results/{cohort}/data/dosage.npy",
        filtered="results/{cohort}/data/filtered.tsv",
    output:
        kinship="results/{cohort}/curate/kinship.tsv",
        related="results/{cohort}/curate/related.tsv",
        duplicates="results/{cohort}/curate/duplicates.tsv",
        removed="results/{cohort}/curate/removed.tsv",
        kept="results/{cohort}/curate/kept.tsv",
        summary="results/{cohort}/curate/summary.json",
    log:
        "results/{cohort}/logs/curate.log",
    benchmark:
        "results/{cohort}/benchmarks/curate.tsv"
    wildcard_constraints:
        cohort=one_of(GENOTYPE_COHORTS),
    conda:
        "../envs/curate.yaml"
    threads: 2
    params:
        curation=lambda wc: settings(wc.cohort, "curation"),
    script:
        "../scripts/curate_genotypes.py"


rule split_genotypes:
    input:
        kept="results/{cohort}/curate/kept.tsv",
        samples="results/{cohort}/data/samples.tsv",
    output:
        split="results/{cohort}/split/split.tsv",
        distribution="results/{cohort}/split/distribution.json",
    log:
        "results/{cohort}/logs/split.log",
    wildcard_constraints:
        cohort=one_of(GENOTYPE_COHORTS),
    conda:
        "../envs/curate.yaml"
    params:
        split=config["split"],
        covariates=vcf_covariates,
    script:
        "../scripts/split_genotypes.py"


rule impute_genotypes:
    input:
        onehot="results/{cohort}/data/onehot.npy",
        missing="results/{cohort}/data/missing.npy",
        split=imputation_samples,
        samples="results/{cohort}/data/samples.tsv",
    output:
        "results/{cohort}/split/onehot.npy",
    log:
        "results/{cohort}/logs/impute.log",
    benchmark:
        "results/{cohort}/benchmarks/impute.tsv"
    wildcard_constraints:
        cohort=one_of(GENOTYPE_MEAN_COHORTS),
    conda:
        "../envs/data.yaml"
    script:
        "../scripts/impute_genotypes.py"


rule predict_new:
    input:
        vcf=predict_vcf,
        features="results/{cohort}/data/features.tsv",
        samples="results/{cohort}/data/samples.tsv",
        split=imputation_samples,
        onehot=predict_tensor,
        models=predict_models,
    output:
        "results/{cohort}/predict/{name}/{model}.tsv",
    log:
        "results/{cohort}/logs/predict_{name}_{model}.log",
    wildcard_constraints:
        cohort=one_of(VCF_COHORTS),
        name=one_of(PREDICT),
    conda:
        "../envs/model.yaml"
    threads: 2
    params:
        cohort=vcf_cohort_entry,
        entry=predict_entry,
        kind=model_kind_name,
    script:
        "../scripts/predict_new.py"
