"""Tests for seq2pheno.sources: reading tables and FASTA cohorts, every bad input, writing a cohort."""

import gzip
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seq2pheno.encode import one_hot
from seq2pheno.errors import InputError
from seq2pheno.sources import read_fasta, read_table, validate_sequences, write_cohort

NOTEBOOK = Path(__file__).resolve().parents[1] / "resources" / "seed_sequences_data.csv"


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


class ListLog:
    def __init__(self):
        self.messages = []

    def info(self, msg, *args):
        self.messages.append(msg % args)


# ----------------------------------------------------------------------------- read_table

def test_notebook_file_loads_as_is():
    df = read_table(NOTEBOOK)
    assert len(df) == 9000
    assert list(df.columns[:4]) == ["id", "sequence", "phenotype", "line"]
    assert df["id"].iloc[0] == "1" and df["id"].iloc[-1] == "9000"
    assert df["line"].iloc[0] == 2 and df["line"].iloc[-1] == 9001
    assert df["phenotype"].dtype == np.float64 and not df["phenotype"].isna().any()
    assert validate_sequences(df, source=NOTEBOOK) == 200


def test_tsv_named_csv_and_csv_named_txt_are_sniffed(tmp_path):
    a = read_table(write(tmp_path, "a.csv", "ID\tSequence\tPhenotype\tsite\ns1\tacgt\t1.5\tx\ns2\tTTGA\t-2\ty\n"))
    b = read_table(write(tmp_path, "b.txt", "id,sequences,phenotypes,site\ns1,ACGT,1.5,x\ns2,TTGA,-2,y\n"))
    pd.testing.assert_frame_equal(a, b)
    assert a["sequence"].tolist() == ["ACGT", "TTGA"]  # lowercase read as uppercase
    assert a["phenotype"].tolist() == [1.5, -2.0]
    assert a["site"].tolist() == ["x", "y"]  # extra columns are covariates


def test_crlf_blank_lines_and_gzip(tmp_path):
    text = "sequence,phenotype\r\nACGT,1\r\n\r\nTTTT,2\r\n"
    df = read_table(write(tmp_path, "w.csv", text))
    assert df["sequence"].tolist() == ["ACGT", "TTTT"] and df["line"].tolist() == [2, 4]
    gz = tmp_path / "w.csv.gz"
    gz.write_bytes(gzip.compress(text.encode()))
    pd.testing.assert_frame_equal(read_table(gz), df)


def test_user_column_named_line_is_kept_as_covariate(tmp_path):
    df = read_table(write(tmp_path, "t.tsv", "id\tline\tsequence\tphenotype\na\tB73\tACGT\t1\n"))
    assert df["line"].tolist() == [2] and df["line.1"].tolist() == ["B73"]


def test_missing_path():
    with pytest.raises(InputError, match=r"nope\.csv: table does not exist"):
        read_table("/nonexistent/nope.csv")


def test_empty_file(tmp_path):
    with pytest.raises(InputError, match="empty"):
        read_table(write(tmp_path, "e.csv", ""))
    with pytest.raises(InputError, match="no data rows"):
        read_table(write(tmp_path, "h.csv", "sequence,phenotype\n"))
    with pytest.raises(InputError, match="no header"):
        read_table(write(tmp_path, "b.csv", "\n\n"))


def test_no_sequence_column_lists_found_columns(tmp_path):
    with pytest.raises(InputError) as err:
        read_table(write(tmp_path, "t.csv", "id,seq,phenotype\na,ACGT,1\n"))
    msg = str(err.value)
    assert "t.csv:1:" in msg and "no sequence column" in msg and "'seq'" in msg and "'id'" in msg


def test_no_phenotype_column(tmp_path):
    with pytest.raises(InputError, match=r"t\.tsv:1: no phenotype column.*'yield'"):
        read_table(write(tmp_path, "t.tsv", "sequence\tyield\nACGT\t1\n"))
    with pytest.raises(InputError, match="no phenotype column"):
        read_table(write(tmp_path, "one.csv", "sequence\nACGT\n"))


def test_wrong_field_count(tmp_path):
    with pytest.raises(InputError, match=r"t\.csv:3: 3 field\(s\); expected 2"):
        read_table(write(tmp_path, "t.csv", "sequence,phenotype\nACGT,1\nACGT,2,3\n"))


def test_duplicate_ids_name_both_lines(tmp_path):
    with pytest.raises(InputError, match=r"d\.csv:4: duplicate id 'a' on lines 2 and 4"):
        read_table(write(tmp_path, "d.csv", "id,sequence,phenotype\na,ACGT,1\nb,ACGT,2\na,ACGA,3\n"))


TABLE = "id,sequence,phenotype\na,ACGT,1.0\nb,ACGG,\nc,ACGA,NA\nd,AAAA,2e1\n"


def test_missing_phenotype_error_by_default(tmp_path):
    with pytest.raises(InputError, match=r"m\.csv:3: missing phenotype in column 'phenotype'"):
        read_table(write(tmp_path, "m.csv", TABLE))


def test_missing_phenotype_drop_logs_count(tmp_path):
    log = ListLog()
    df = read_table(write(tmp_path, "m.csv", TABLE), missing_phenotype="drop", log=log)
    assert df["id"].tolist() == ["a", "d"] and df["line"].tolist() == [2, 5]
    assert df["phenotype"].tolist() == [1.0, 20.0]
    assert any("dropped 2 row(s)" in m for m in log.messages)


def test_missing_phenotype_drop_works_with_std_logger(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        read_table(write(tmp_path, "m.csv", TABLE), missing_phenotype="drop",
                   log=logging.getLogger("t"))
    assert "dropped 2 row(s)" in caplog.text


def test_missing_phenotype_keep(tmp_path):
    df = read_table(write(tmp_path, "m.csv", TABLE), missing_phenotype="keep")
    assert df["id"].tolist() == ["a", "b", "c", "d"]
    assert df["phenotype"].isna().tolist() == [False, True, True, False]


NONNUM = "sequence,phenotype\nACGT,1\nACGA,tall\nACGG,inf\n"


def test_non_numeric_phenotype_in_each_mode(tmp_path):
    p = write(tmp_path, "n.csv", NONNUM)
    with pytest.raises(InputError, match=r"n\.csv:3: phenotype 'tall' .*not a number"):
        read_table(p)
    with pytest.raises(InputError, match=r"n\.csv:3: phenotype 'tall'"):
        read_table(p, missing_phenotype="keep")
    log = ListLog()
    df = read_table(p, missing_phenotype="drop", log=log)
    assert df["id"].tolist() == ["1"] and "2 not a number" in log.messages[0]


def test_all_phenotypes_dropped_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no sample with a usable phenotype"):
        read_table(write(tmp_path, "x.csv", "sequence,phenotype\nACGT,\n"), missing_phenotype="drop")


def test_empty_sequence(tmp_path):
    with pytest.raises(InputError, match=r"x\.csv:3: empty sequence"):
        read_table(write(tmp_path, "x.csv", "sequence,phenotype\nACGT,1\n,2\n"))


# ----------------------------------------------------------------------------- sequence checks

def test_unequal_length_names_file_and_line(tmp_path):
    p = write(tmp_path, "u.csv", "sequence,phenotype\nACGT,1\nACGT,2\n\nACG,3\n")
    df = read_table(p)
    with pytest.raises(InputError, match=r"u\.csv:5: sequence has length 3; expected 4"):
        validate_sequences(df, source=p)


def test_bad_character_names_file_and_line(tmp_path):
    p = write(tmp_path, "b.tsv", "sequence\tphenotype\nACGT\t1\nACRT\t2\n")
    with pytest.raises(InputError, match=r"b\.tsv:3: .*found 'R' at position 2"):
        validate_sequences(read_table(p), source=p)


def test_n_allowed_or_not(tmp_path):
    p = write(tmp_path, "n.csv", "sequence,phenotype\nACGT,1\nACnT,2\n")
    df = read_table(p)
    with pytest.raises(InputError, match=r"n\.csv:3: .*'N'"):
        validate_sequences(df, source=p)
    assert validate_sequences(df, source=p, allow_n=True) == 4


# ----------------------------------------------------------------------------- FASTA

FASTA = ">s1 first sample\nACGT\nAC\n>s2\nttgacc\n>s3\nGGGGGG\n"


def test_fasta_join_and_header_lines(tmp_path):
    fa = write(tmp_path, "c.fa", FASTA)
    ph = write(tmp_path, "p.tsv", "id\tphenotype\tsex\ns3\t3\tF\ns1\t1.5\tM\ns2\t-2\tF\n")
    df = read_fasta(fa, ph)
    assert df["id"].tolist() == ["s1", "s2", "s3"]
    assert df["sequence"].tolist() == ["ACGTAC", "TTGACC", "GGGGGG"]
    assert df["phenotype"].tolist() == [1.5, -2.0, 3.0]
    assert df["line"].tolist() == [1, 4, 6]
    assert df["sex"].tolist() == ["M", "F", "F"]


def test_fasta_gzipped_and_csv_phenotypes(tmp_path):
    fa = tmp_path / "c.fa.gz"
    fa.write_bytes(gzip.compress(FASTA.encode()))
    ph = write(tmp_path, "p.txt", "ID,Phenotypes\ns1,1\ns2,2\ns3,3\n")
    df = read_fasta(fa, ph)
    assert df["line"].tolist() == [1, 4, 6] and df["phenotype"].tolist() == [1.0, 2.0, 3.0]


def test_fasta_unmatched_error_and_drop(tmp_path):
    fa = write(tmp_path, "c.fa", FASTA)
    ph = write(tmp_path, "p.tsv", "id\tphenotype\ns1\t1\ns9\t9\ns8\t8\n")
    with pytest.raises(InputError) as err:
        read_fasta(fa, ph)
    msg = str(err.value)
    assert msg.startswith(f"{fa}: ")
    assert "2 FASTA record(s) have no row" in msg and "'s2'" in msg and "'s3'" in msg
    assert "2 row(s) of" in msg and "'s9'" in msg
    log = ListLog()
    df = read_fasta(fa, ph, unmatched="drop", log=log)
    assert df["id"].tolist() == ["s1"]
    assert "2 FASTA record(s)" in log.messages[0] and "2 row(s)" in log.messages[0]


def test_fasta_only_table_side_unmatched_names_table(tmp_path):
    fa = write(tmp_path, "c.fa", FASTA)
    ph = write(tmp_path, "p.tsv", "id\tphenotype\ns1\t1\ns2\t2\ns3\t3\nzz\t0\n")
    with pytest.raises(InputError, match=r"p\.tsv: 1 row\(s\) of .* have no FASTA record \(first: 'zz'\)"):
        read_fasta(fa, ph)


def test_fasta_duplicate_ids(tmp_path):
    ph = write(tmp_path, "p.tsv", "id\tphenotype\ns1\t1\ns2\t2\n")
    fa = write(tmp_path, "d.fa", ">s1\nAC\n>s2\nGG\n>s1\nTT\n")
    with pytest.raises(InputError, match=r"d\.fa:5: duplicate record id 's1' on lines 1 and 5"):
        read_fasta(fa, ph)
    fa2 = write(tmp_path, "ok.fa", ">s1\nAC\n>s2\nGG\n")
    ph2 = write(tmp_path, "p2.tsv", "id\tphenotype\ns1\t1\ns2\t2\ns1\t3\n")
    with pytest.raises(InputError, match=r"p2\.tsv:4: duplicate id 's1' on lines 2 and 4"):
        read_fasta(fa2, ph2)


def test_fasta_missing_phenotype_modes(tmp_path):
    fa = write(tmp_path, "c.fa", FASTA)
    ph = write(tmp_path, "p.tsv", "id\tphenotype\ns1\t1\ns2\t\ns3\t3\n")
    with pytest.raises(InputError, match=r"p\.tsv:3: missing phenotype"):
        read_fasta(fa, ph)
    assert read_fasta(fa, ph, missing_phenotype="drop")["id"].tolist() == ["s1", "s3"]
    kept = read_fasta(fa, ph, missing_phenotype="keep")
    assert kept["phenotype"].isna().tolist() == [False, True, False]


def test_fasta_bad_inputs(tmp_path):
    ph = write(tmp_path, "p.tsv", "id\tphenotype\ns1\t1\n")
    with pytest.raises(InputError, match="FASTA does not exist"):
        read_fasta(tmp_path / "none.fa", ph)
    with pytest.raises(InputError, match="empty"):
        read_fasta(write(tmp_path, "e.fa", ""), ph)
    with pytest.raises(InputError, match="no id column"):
        read_fasta(write(tmp_path, "c.fa", ">s1\nAC\n"), write(tmp_path, "q.tsv", "name\tphenotype\ns1\t1\n"))
    with pytest.raises(InputError, match=r"x\.fa"):
        read_fasta(write(tmp_path, "x.fa", "just some text\nno records\n"), ph)


# ----------------------------------------------------------------------------- write_cohort

def test_write_cohort(tmp_path):
    src = write(tmp_path, "t.csv", "id,sequence,phenotype,site\na,ACGT,1.25,x\nb,acgg,,y\nc,TTTT,-3,z\n")
    df = read_table(src, missing_phenotype="keep")
    out = tmp_path / "data"
    summary = write_cohort(df, samples_path=out / "samples.tsv", onehot_path=out / "onehot.npy",
                           features_path=out / "features.tsv", source=src)
    assert summary == {"n": 3, "length": 4, "n_phenotyped": 2, "n_unphenotyped": 1}
    samples = pd.read_csv(out / "samples.tsv", sep="\t", dtype={"id": str})
    assert samples.columns.tolist() == ["id", "phenotype", "site"]
    assert samples["id"].tolist() == ["a", "b", "c"]
    assert samples["phenotype"].iloc[0] == 1.25 and np.isnan(samples["phenotype"].iloc[1])
    x = np.load(out / "onehot.npy", mmap_mode="r")
    np.testing.assert_array_equal(x, one_hot(["ACGT", "ACGG", "TTTT"]))
    assert pd.read_csv(out / "features.tsv", sep="\t")["position"].tolist() == [0, 1, 2, 3]
    assert sorted(p.name for p in out.iterdir()) == ["features.tsv", "onehot.npy", "samples.tsv"]


def test_write_cohort_bad_sequence_leaves_nothing(tmp_path):
    src = write(tmp_path, "t.csv", "sequence,phenotype\nACGT,1\nACGT,2\nACGTA,3\n")
    out = tmp_path / "data"
    with pytest.raises(InputError, match=r"t\.csv:4: sequence has length 5; expected 4"):
        write_cohort(read_table(src), samples_path=out / "samples.tsv", onehot_path=out / "onehot.npy",
                     features_path=out / "features.tsv", source=src)
    assert not out.exists() or list(out.iterdir()) == []


def test_write_cohort_n(tmp_path):
    src = write(tmp_path, "t.csv", "sequence,phenotype\nACGN,1\n")
    out = tmp_path / "d"
    kw = dict(samples_path=out / "s.tsv", onehot_path=out / "o.npy", features_path=out / "f.tsv", source=src)
    with pytest.raises(InputError, match=r"t\.csv:2: .*'N'"):
        write_cohort(read_table(src), **kw)
    write_cohort(read_table(src), allow_n=True, **kw)
    np.testing.assert_array_equal(np.load(out / "o.npy")[0, 3], [0.25] * 4)
