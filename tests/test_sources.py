"""Tests for seq2pheno.sources: reading tables and FASTA cohorts, every bad input, writing a cohort."""

import gzip
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seq2pheno.encode import one_hot
from seq2pheno.errors import InputError
from seq2pheno.simulate import simulate_cohort
from seq2pheno.tensorfile import open_tensor
from seq2pheno.sources import (import_fasta, import_simulated, import_table, read_fasta, read_table,
                               validate_sequences, write_cohort)

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
    codes = np.load(out / "onehot.npy")           # the compact format: one uint8 code a base
    assert codes.dtype == np.uint8 and codes.tolist() == [[0, 1, 2, 3], [0, 1, 2, 2], [3, 3, 3, 3]]
    x = open_tensor(out / "onehot.npy")
    assert x.shape == (3, 4, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:], one_hot(["ACGT", "ACGG", "TTTT"]))
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
    np.testing.assert_array_equal(open_tensor(out / "o.npy")[0, 3], [0.25] * 4)


def test_import_with_n_writes_a_compact_tensor_equal_to_the_float32_encoding(tmp_path):
    """Table and FASTA imports write one uint8 code a base (N = 4); read through open_tensor the
    rows equal the float32 one-hot tensor the import used to write, byte for byte."""
    from seq2pheno.encode import write_onehot

    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list("ACGTN"), 15, p=[0.22, 0.22, 0.22, 0.22, 0.12])) for _ in range(57)]
    seqs[4] = seqs[4].lower()                                   # soft-masked: same codes
    src = write(tmp_path, "t.csv", "id,sequence,phenotype\n"
                + "".join(f"s{i},{q},{i / 7:.3f}\n" for i, q in enumerate(seqs)))
    fa = write(tmp_path, "t.fa", "".join(f">s{i}\n{q}\n" for i, q in enumerate(seqs)))
    ph = write(tmp_path, "p.tsv", "id\tphenotype\n" + "".join(f"s{i}\t{i / 7:.3f}\n" for i in range(57)))
    write_onehot(tmp_path / "float32.npy", seqs, allow_n=True)          # the former format
    old = np.load(tmp_path / "float32.npy")
    assert old.dtype == np.float32 and old.shape == (57, 15, 4)
    import_table(src, **_outputs(tmp_path / "table"), allow_n=True, chunk_rows=8)
    import_fasta(fa, ph, **_outputs(tmp_path / "fasta"), allow_n=True, chunk_rows=8)
    for out in (tmp_path / "table", tmp_path / "fasta"):
        codes = np.load(out / "onehot.npy")
        assert codes.dtype == np.uint8 and codes.shape == (57, 15)
        assert (codes == 4).sum() == sum(q.upper().count("N") for q in seqs) > 0
        assert os.path.getsize(out / "onehot.npy") == 128 + old.nbytes // 16   # one byte a base
        x = open_tensor(out / "onehot.npy")
        assert x.shape == old.shape and x.dtype == np.float32 and x.ndim == 3 and len(x) == 57
        np.testing.assert_array_equal(x[:], old)
        assert x[:].tobytes() == old.tobytes()
        idx = np.array([9, 2, 2, 56, 0])
        np.testing.assert_array_equal(x[idx], old[idx])
        np.testing.assert_array_equal(x[3:40:5, 2:9], old[3:40:5, 2:9])
    assert _files(tmp_path / "table")["onehot.npy"] == _files(tmp_path / "fasta")["onehot.npy"]


# ----------------------------------------------------------------------------- streaming import

def _outputs(out):
    return dict(samples_path=out / "samples.tsv", onehot_path=out / "onehot.npy",
                features_path=out / "features.tsv")


def _files(out):
    return {name: (out / name).read_bytes() for name in ("samples.tsv", "onehot.npy", "features.tsv")}


def _messy_table(tmp_path, n=40):
    """A table with every feature of the readers: BOM, CRLF, blank lines, a row of blank
    fields, quoted fields spanning lines, lowercase, missing phenotypes, covariates."""
    rng = np.random.default_rng(4)
    rows = ["ID,Sequence,Phenotype,line,site"]
    for i in range(1, n + 1):
        seq = "".join(rng.choice(list("ACGT"), 12))
        seq = seq.lower() if i % 7 == 0 else seq
        ph = "" if i % 9 == 0 else ("NA" if i % 11 == 0 else f"{rng.normal():.5g}")
        site = f'"x,{i}\nsecond line"' if i % 6 == 0 else f"s{i % 4}"
        rows.append(f"r{i},{seq},{ph},B{i},{site}")
        if i % 8 == 0:
            rows.append("")
        if i % 13 == 0:
            rows.append(" , , , , ")
    p = tmp_path / "messy.csv"
    p.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode())
    return p


@pytest.mark.parametrize("mode", ["keep", "drop"])
def test_import_table_equals_read_and_write_for_any_chunk_size(tmp_path, mode):
    src = _messy_table(tmp_path)
    whole = read_table(src, missing_phenotype=mode)
    n = len(whole)
    expected = write_cohort(whole, **_outputs(tmp_path / "whole"), source=src)
    reference = _files(tmp_path / "whole")
    assert expected["n"] == n and n > 20
    log = ListLog()
    for chunk in (1, 3, n, n + 7):
        out = tmp_path / f"chunk{chunk}"
        assert import_table(src, **_outputs(out), missing_phenotype=mode, chunk_rows=chunk, log=log) == expected
        assert _files(out) == reference, chunk
        assert sorted(p.name for p in out.iterdir()) == ["features.tsv", "onehot.npy", "samples.tsv"]
        np.testing.assert_array_equal(open_tensor(out / "onehot.npy")[:], one_hot(whole["sequence"].tolist()))
    assert len(set(log.messages)) == 1 and "row(s)" in log.messages[0]


def test_read_table_same_for_any_chunk_size(tmp_path):
    src = _messy_table(tmp_path)
    whole = read_table(src, missing_phenotype="keep", chunk_rows=10_000)
    for chunk in (1, 3, 5):
        pd.testing.assert_frame_equal(read_table(src, missing_phenotype="keep", chunk_rows=chunk), whole)
    # quoted fields that span lines: the row's line is the record's last line
    assert whole.loc[whole["id"] == "r6", "site"].item() == "x,6\nsecond line"
    line = dict(zip(whole["id"], whole["line"]))
    assert (line["r5"], line["r6"], line["r7"]) == (6, 8, 9)   # r6 spans lines 7-8


def _table(n, mutate=None, length=20, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        f = [f"s{i}", "".join(rng.choice(list("ACGT"), length)), f"{i}.5"]
        rows.append(mutate(i, f) if mutate else f)
    return "id,sequence,phenotype\n" + "".join(",".join(f) + "\n" for f in rows)


LATE = [  # (row made bad, expected message): line = row + 2 (header = line 1)
    (lambda i, f: [f[0], f[1][:7] + "r" + f[1][8:], f[2]] if i == 57 else f,
     r"t\.csv:59: invalid base: found 'R' at position 7"),
    (lambda i, f: [f[0], f[1][:-1], f[2]] if i in (57, 60) else f,
     r"t\.csv:59: sequence has length 19; expected 20 \(the length of the first sequence, line 2\); 2 sequence"),
    (lambda i, f: ["s3", *f[1:]] if i == 57 else f, r"t\.csv:59: duplicate id 's3' on lines 5 and 59"),
    (lambda i, f: [f[0], f[1], "NA"] if i == 57 else f, r"t\.csv:59: missing phenotype in column 'phenotype'"),
    (lambda i, f: [*f, "x"] if i == 57 else f, r"t\.csv:59: 4 field\(s\); expected 3"),
    (lambda i, f: [" ", *f[1:]] if i == 57 else f, r"t\.csv:59: empty id"),
    (lambda i, f: [f[0], " ", f[2]] if i == 57 else f, r"t\.csv:59: empty sequence"),
    (lambda i, f: [f[0], f[1][:3] + "\u00e9" + f[1][4:], f[2]] if i == 57 else f,
     r"t\.csv:59: .*found '\u00c9' at position 3"),
]


@pytest.mark.parametrize("chunk", [1, 4, 1000])
@pytest.mark.parametrize("case", range(len(LATE)))
def test_error_in_a_late_chunk_names_its_line_and_leaves_nothing(tmp_path, case, chunk):
    mutate, message = LATE[case]
    src = tmp_path / "t.csv"
    src.write_text(_table(64, mutate))
    out = tmp_path / "data"
    with pytest.raises(InputError, match=message) as err:
        import_table(src, **_outputs(out), chunk_rows=chunk)
    assert not out.exists() or list(out.iterdir()) == []
    # the same error as reading the whole table and writing it
    with pytest.raises(InputError) as whole:
        write_cohort(read_table(src), **_outputs(tmp_path / "w"), source=src)
    assert str(err.value) == str(whole.value)


def test_several_problems_report_the_kind_checked_first(tmp_path):
    """A bad base early and a duplicate id late: the duplicate (checked before bases when the
    whole table was read) is reported, whatever the chunk size."""
    def mutate(i, f):
        if i == 2:
            return [f[0], "X" + f[1][1:], f[2]]
        if i == 30:
            return [f[0], f[1][:-3], f[2]]
        return ["s1", *f[1:]] if i == 60 else f
    src = tmp_path / "t.csv"
    src.write_text(_table(64, mutate))
    for chunk in (1, 7, 100):
        with pytest.raises(InputError, match=r"t\.csv:62: duplicate id 's1' on lines 3 and 62"):
            import_table(src, **_outputs(tmp_path / "d"), chunk_rows=chunk)
    src.write_text(_table(64, lambda i, f: mutate(i, f) if i != 60 else f))
    with pytest.raises(InputError, match=r"t\.csv:32: sequence has length 17; expected 20"):
        import_table(src, **_outputs(tmp_path / "d"), chunk_rows=7)


def test_quoted_sequence_and_quoted_multiline_fields_keep_line_numbers(tmp_path):
    src = tmp_path / "q.csv"
    src.write_text('id,sequence,phenotype,note\na,"ACGT",1,"two\nlines"\nb,ACGT,2,x\n\nc,"AC;T",3,y\n')
    with pytest.raises(InputError, match=r"q\.csv:6: invalid base: found ';' at position 2"):
        import_table(src, **_outputs(tmp_path / "d"), chunk_rows=1)


def test_import_fasta_equals_read_and_write_for_any_chunk_size(tmp_path):
    fa = write(tmp_path, "c.fa", FASTA + ">s4 x\nACGTAC\n>s5\naaaa\ncc\n>s6\nTTTTTT\n")
    ph = write(tmp_path, "p.tsv", "id\tphenotype\tsex\ns3\t3\tF\ns1\t1.5\tM\ns2\t\tF\n"
                                  "s5\t5\tM\ns4\t4\tF\ns6\t6\tM\nzz\t1\tF\n")
    kw = dict(unmatched="drop", missing_phenotype="drop")
    whole = read_fasta(fa, ph, **kw)
    assert whole["id"].tolist() == ["s1", "s3", "s4", "s5", "s6"]
    expected = write_cohort(whole, **_outputs(tmp_path / "whole"), source=fa)
    reference = _files(tmp_path / "whole")
    for chunk in (1, 3, 5, 9):
        out = tmp_path / f"chunk{chunk}"
        assert import_fasta(fa, ph, **_outputs(out), chunk_rows=chunk, **kw) == expected
        assert _files(out) == reference, chunk
        pd.testing.assert_frame_equal(read_fasta(fa, ph, chunk_rows=chunk, **kw), whole)


def test_import_fasta_errors_name_header_lines_and_leave_nothing(tmp_path):
    ph = write(tmp_path, "p.tsv", "id\tphenotype\n" + "".join(f"r{i}\t{i}\n" for i in range(30)))
    recs = "".join(f">r{i} sample\nACGTA\nCG{'T' if i != 25 else 'X'}\n" for i in range(30))
    fa = write(tmp_path, "x.fa", recs)
    out = tmp_path / "data"
    for chunk in (1, 4, 100):
        with pytest.raises(InputError, match=r"x\.fa:76: invalid base: found 'X' at position 7"):
            import_fasta(fa, ph, **_outputs(out), chunk_rows=chunk)
        assert not out.exists() or list(out.iterdir()) == []
    fa = write(tmp_path, "d.fa", recs.replace(">r20 ", ">r3 "))
    with pytest.raises(InputError, match=r"d\.fa:61: duplicate record id 'r3' on lines 10 and 61"):
        import_fasta(fa, ph, **_outputs(out), chunk_rows=4)
    # a FASTA problem is reported before a problem of the phenotype table, as before
    with pytest.raises(InputError, match=r"d\.fa:61: duplicate record id"):
        import_fasta(fa, tmp_path / "missing.tsv", **_outputs(out))
    assert not out.exists() or list(out.iterdir()) == []


def test_import_simulated_equals_simulate_cohort_written(tmp_path):
    seqs, y, truth = simulate_cohort(9000, 30, env=1.0, seed=2)
    ids = [f"sim{i:04d}" for i in range(1, 9001)]
    expected = write_cohort(pd.DataFrame({"id": ids, "sequence": seqs, "phenotype": y}),
                            **_outputs(tmp_path / "whole"))
    summary, truth2 = import_simulated(9000, 30, env=1.0, seed=2, **_outputs(tmp_path / "sim"))
    assert summary == expected and truth2 == truth
    assert _files(tmp_path / "sim") == _files(tmp_path / "whole")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_import_memory_does_not_grow_with_the_cohort(tmp_path):
    """Importing a table of 24 MB of sequence (a 24 MB compact tensor, 384 MB as float32) in
    chunks of 256 rows raises the resident set by a few MB, as importing 2 MB of sequence does
    (the former in-memory table and memory-mapped tensor grew by 500 MB here)."""
    length = 1000
    letters = np.frombuffer(b"ACGT", np.uint8)
    rng = np.random.default_rng(0)
    for n in (2_000, 24_000):
        seqs = letters[rng.integers(0, 4, (n, length), dtype=np.uint8)].tobytes().decode()
        with open(tmp_path / f"t{n}.csv", "w") as fh:
            fh.write("id,sequence,phenotype\n")
            fh.writelines(f"s{i},{seqs[i * length:(i + 1) * length]},{i % 97}\n" for i in range(n))
    # VmHWM is this process's own peak (ru_maxrss would also count the forked parent's pages)
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {os.getcwd()!r})
        from seq2pheno import sources

        def status(key):
            with open("/proc/self/status") as fh:
                return next(int(line.split()[1]) for line in fh if line.startswith(key + ":"))

        n = sys.argv[1]
        out = {str(tmp_path)!r} + "/out" + n
        before = status("VmRSS")
        s = sources.import_table({str(tmp_path)!r} + f"/t{{n}}.csv", samples_path=out + "/s.tsv",
                                 onehot_path=out + "/o.npy", features_path=out + "/f.tsv", chunk_rows=256)
        assert s["n"] == int(n), s
        print(status("VmHWM") - before)
    """)
    grown = {n: int(subprocess.run([sys.executable, "-c", code, str(n)], check=True, capture_output=True,
                                   text=True).stdout) / 1024 for n in (2_000, 24_000)}
    assert os.path.getsize(tmp_path / "out24000/o.npy") > 24e6   # one byte a base
    assert grown[24_000] < 40, grown                   # MB; the tensor is 384 MB as float32
    assert grown[24_000] - grown[2_000] < 8, grown     # metadata: tens of bytes a sample


def test_pad_to_centres_shorter_sequences_in_n_for_table_and_fasta(tmp_path):
    """pad_to: sequences of different lengths, each centred in N up to pad_to (the odd base on the
    right), the same from a table and a FASTA and for any chunk size; an N of the data itself is
    still an error without allow_n, a sequence longer than pad_to names its line, and without
    pad_to unequal lengths stop with a hint to set it."""
    from seq2pheno.encode import decode, pad_sequences

    assert pad_sequences(["ACG", "ACGTAC"], 6) == ["NACGNN", "ACGTAC"]
    seqs = ["ACGTAC", "ACG", "TTTTTTTT", "G"]
    src = write(tmp_path, "v.csv", "id,sequence,phenotype\n" + "".join(f"s{i},{q},{i}\n" for i, q in enumerate(seqs)))
    fa = write(tmp_path, "v.fa", "".join(f">s{i}\n{q}\n" for i, q in enumerate(seqs)))
    ph = write(tmp_path, "p.tsv", "id\tphenotype\n" + "".join(f"s{i}\t{i}\n" for i in range(4)))
    want = ["NACGTACNN", "NNNACGNNN", "TTTTTTTTN", "NNNNGNNNN"]
    for chunk in (1, 3, 100):
        for out, run in ((tmp_path / f"t{chunk}", lambda o: import_table(src, **_outputs(o), pad_to=9, chunk_rows=chunk)),
                         (tmp_path / f"f{chunk}", lambda o: import_fasta(fa, ph, **_outputs(o), pad_to=9,
                                                                         chunk_rows=chunk))):
            assert run(out)["length"] == 9
            assert decode(open_tensor(out / "onehot.npy")[:]) == want
            assert len(pd.read_csv(out / "features.tsv", sep="\t")) == 9
    with pytest.raises(InputError, match=r"v\.csv:4: sequence has length 8, longer than pad_to 7; 1 sequence"):
        import_table(src, **_outputs(tmp_path / "long"), pad_to=7)
    with pytest.raises(InputError, match=r"v\.csv:3: sequence has length 3; expected 6 .*pad_to"):
        import_table(src, **_outputs(tmp_path / "none"))
    n_src = write(tmp_path, "n.csv", "sequence,phenotype\nACGT,1\nAnG,2\n")
    with pytest.raises(InputError, match=r"n\.csv:3: invalid base: found 'N' at position 1"):
        import_table(n_src, **_outputs(tmp_path / "n"), pad_to=5)
    import_table(n_src, **_outputs(tmp_path / "n"), pad_to=5, allow_n=True)
    assert decode(open_tensor(tmp_path / "n" / "onehot.npy")[:]) == ["ACGTN", "NANGN"]
