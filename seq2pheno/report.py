"""The per-cohort HTML report: one self-contained file (inline CSS, inline PNG figures, no network).

The report is written for biologists and breeders: every figure carries one or two plain
sentences saying how to read it, and the model comparison ends with an honest verdict.

Public API
----------
``render_report(ctx) -> str``            the HTML text
``write_report(path, ctx) -> None``      atomic write (temporary file in the same folder, then rename)
``load_context(cohort, paths, models, *, source=None, genotype=None) -> dict``
                                         read the workflow's files into a ``ctx``
``figure_block(fig, caption, *, alt=None) -> str``   a figure as an inline ``<figure>``
``table_block(df, caption, *, highlight=None) -> str``  a DataFrame as an escaped ``<table>``
``section(title, html, anchor=None) -> dict``  an entry for ``ctx["extra_sections"]``

The context ``ctx`` (a plain dict; only ``cohort`` and ``models`` are required)
-------------------------------------------------------------------------------
``cohort``               str, the cohort's name.
``source``               str, ``simulate`` | ``table`` | ``fasta`` | ``vcf`` | ``markers`` | ``plink`` (shown as given).
``genotype``             bool, genotype cohort (default: source vcf, markers or plink); ridge is then
                         named "ridge (rrBLUP/GBLUP-equivalent)".
``n_samples``            int, samples imported (rows of data/samples.tsv).
``n_kept``               int, samples kept after curation (rows of curate/kept.tsv).
``length``               int, L: tensor columns (bp for sequence cohorts, variant sites for VCF).
``removed``              dict reason -> count, or a DataFrame with columns id, reason, detail.
``split_counts``         dict split -> number of samples (train, valid, test, unphenotyped).
``phenotypes_by_split``  dict split -> 1-D array of phenotypes (original scale).
``distribution``         dict as split/distribution.json: ``{"pairs": [{"a", "b", "ks_statistic",
                         "p_value"}], "n": {...}, "mean": {...}, "sd": {...}}``.
``models``               dict model name -> dict with
                           ``metrics``: ``{"train"|"valid"|"test": {"n", "r2", "mse", "pearson_r",
                           "spearman_r"}}`` (metrics.json);
                           ``history``: DataFrame (epoch, loss, val_loss, learning_rate, seconds,
                           best) or None (ridge has none);
                           ``predictions``: DataFrame (id, split, observed, predicted) or None;
                           ``kind``: ``"cnn"`` or ``"ridge"`` (or another baseline name); default
                           ``"ridge"`` when the model's name starts with "ridge", else ``"cnn"``.
``noise_ceiling``        None, a float (the best R² any model can reach given measurement noise),
                         or ``{"value": float, "source": str}`` (e.g. "simulation truth H²",
                         "replicate repeatability").
``extra_sections``       list of ``{"title": str, "html": str}`` (``"anchor"`` optional) appended in
                         order after the built-in sections; ``html`` is trusted HTML (build it with
                         :func:`figure_block` / :func:`table_block`), ``title`` is escaped.
``title``                str, optional page title (default "seq2pheno report: <cohort>").
``notes``                list of str, optional plain-text notes shown in the summary (escaped).

Every user-provided string (cohort and model names, removal reasons and details, notes) is
escaped with :func:`html.escape`.
"""

from __future__ import annotations

import html
import json
import math
import os
from typing import Any, Mapping

import numpy as np
import pandas as pd

from . import plots
from .atomic import write_text
from .tensorfile import open_tensor

#: Ridge is "as good" as the best CNN when its test R² is at most this much lower.
#: How the model table names each kind.
KIND_LABELS = {"cnn": "CNN", "ridge": "linear (ridge)", "kmer_ridge": "linear (k-mer ridge)",
               "gblup": "linear (GBLUP, REML)", "sparse": "linear (elastic net)",
               "boosted": "gradient-boosted trees"}

_SPLITS = ["train", "valid", "test"]

_CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d8dee4; --accent:#2c6e9b; --best:#e7f5ea;
        --box:#f6f8fa; --warn:#fff8e1; }
* { box-sizing: border-box; }
body { margin:0; font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color:var(--fg); line-height:1.55; background:#fff; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.7rem; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.3rem; margin-top: 2.2em; padding-bottom: 0.25em; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin-top: 1.5em; }
p { margin: 0.6em 0; }
.subtitle { color: var(--muted); margin-top: 0; }
nav.toc { background: var(--box); border: 1px solid var(--line); border-radius: 6px; padding: 10px 16px;
          margin: 18px 0; font-size: 0.95rem; }
nav.toc ol { margin: 4px 0; padding-left: 22px; columns: 2; }
nav.toc a { color: var(--accent); text-decoration: none; }
.callout { background: var(--box); border-left: 4px solid var(--accent); padding: 10px 16px; border-radius: 4px;
           margin: 14px 0; }
.callout.verdict-simple { border-left-color: #b7791f; background: var(--warn); }
.callout.verdict-cnn { border-left-color: #2f855a; background: var(--best); }
figure { margin: 18px 0 26px; }
.fig-row { display: flex; flex-wrap: wrap; gap: 20px; align-items: flex-start; }
.fig-row figure { flex: 1 1 320px; margin-top: 6px; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 0.93rem; margin-top: 6px; max-width: 860px; }
table { border-collapse: collapse; margin: 8px 0 4px; font-size: 0.93rem; }
th, td { padding: 5px 9px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--box); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
th.num { white-space: nowrap; }
tr.best td { background: var(--best); font-weight: 600; }
tr.ceiling td { color: var(--muted); font-style: italic; }
.table-wrap { overflow-x: auto; margin: 12px 0 22px; }
.table-caption { color: var(--muted); font-size: 0.93rem; max-width: 860px; }
dl.glossary dt { font-weight: 600; margin-top: 8px; }
dl.glossary dd { margin-left: 18px; color: var(--fg); }
.muted { color: var(--muted); }
footer { margin-top: 48px; color: var(--muted); font-size: 0.85rem; border-top: 1px solid var(--line); padding-top: 10px; }
"""


# --------------------------------------------------------------------------------------- helpers

def _e(x: Any) -> str:
    """Escape any value for HTML text or attribute context."""
    return html.escape("" if x is None else str(x), quote=True)


def _num(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def fmt_number(x: Any, digits: int = 3) -> str:
    """A number as shown in the report: ints with thousands separators, floats with ``digits``
    decimals (4 significant digits when very small or large), "–" for missing/NaN."""
    if x is None:
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    v = _num(x)
    if not math.isfinite(v):
        return "–"
    if v != 0 and (abs(v) < 10 ** -(digits - 1) or abs(v) >= 1e5):
        return f"{v:.4g}"
    return f"{v:.{digits}f}"


def figure_block(fig, caption: str, *, alt: str | None = None) -> str:
    """A ``<figure>`` with the figure inline as a PNG data URI and ``caption`` (plain text, escaped).

    ``fig`` is a matplotlib Figure (closed afterwards) or an already-made ``data:`` URI string.
    """
    uri = fig if isinstance(fig, str) else plots.figure_to_data_uri(fig)
    if not uri.startswith("data:"):
        raise ValueError("figure_block needs a matplotlib Figure or a data: URI, not a link")
    alt_text = alt if alt is not None else caption.split(".")[0]
    return (f'<figure><img src="{_e(uri)}" alt="{_e(alt_text)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>\n")


def _is_numeric_col(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def table_block(df: pd.DataFrame, caption: str = "", *, highlight: Mapping[int, str] | None = None,
                digits: int = 3, formats: Mapping[str, str] | None = None) -> str:
    """A DataFrame as an HTML table (index dropped, every cell escaped, numbers formatted).

    ``highlight``: row position -> CSS class for that ``<tr>`` (the report uses ``best`` and
    ``ceiling``). ``caption`` (plain text, escaped) is shown under the table. Numbers get
    ``digits`` decimals unless ``formats`` gives a column a format string (e.g. ``"{:.1f}"``);
    missing values show as "–".
    """
    formats = dict(formats or {})
    highlight = dict(highlight or {})
    numeric = {c: _is_numeric_col(df[c]) for c in df.columns}
    out = ['<div class="table-wrap"><table>', "<thead><tr>"]
    for c in df.columns:
        cls = ' class="num"' if numeric[c] else ""
        out.append(f"<th{cls}>{_e(c)}</th>")
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(df.itertuples(index=False, name=None)):
        cls = highlight.get(i)
        out.append(f'<tr class="{_e(cls)}">' if cls else "<tr>")
        for c, v in zip(df.columns, row):
            if isinstance(v, str) or v is None:
                text = _e(v if v is not None else "")
            elif c in formats and isinstance(v, (float, int, np.floating, np.integer)) and \
                    math.isfinite(float(v)):
                text = _e(formats[c].format(v))
            elif isinstance(v, (float, int, np.floating, np.integer, bool, np.bool_)):
                text = _e(fmt_number(v, digits))
            elif v is pd.NA or v is pd.NaT:
                text = "–"
            else:
                text = _e(v)
            tcls = ' class="num"' if numeric[c] else ""
            out.append(f"<td{tcls}>{text}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    if caption:
        out.append(f'<p class="table-caption">{_e(caption)}</p>')
    out.append("</div>\n")
    return "".join(out)


def section(title: str, html_body: str, anchor: str | None = None) -> dict:
    """An entry for ``ctx["extra_sections"]``."""
    d = {"title": title, "html": html_body}
    if anchor:
        d["anchor"] = anchor
    return d


def _slug(text: str, used: set[str]) -> str:
    base = "".join(ch.lower() if ch.isalnum() else "-" for ch in str(text)).strip("-") or "section"
    while "--" in base:
        base = base.replace("--", "-")
    slug, i = base, 2
    while slug in used:
        slug, i = f"{base}-{i}", i + 1
    used.add(slug)
    return slug


# --------------------------------------------------------------------------------- model logic

def model_kind(name: str, entry: Mapping | None = None) -> str:
    """The model's kind as the config resolved it (``entry["kind"]``, set by
    :func:`load_context` from the workflow's ``model_kinds``); ``cnn`` when none was given."""
    if entry and entry.get("kind"):
        return str(entry["kind"]).lower()
    return "cnn"


def is_linear(kind: str) -> bool:
    """True for the linear baselines (ridge, k-mer ridge, GBLUP, sparse), as the registry says."""
    from .models import KINDS

    mod = KINDS.get(kind)
    return bool(getattr(mod, "LINEAR", False)) if mod is not None else False


def _metric(models: Mapping, name: str, split: str, key: str) -> float:
    m = (models.get(name) or {}).get("metrics") or {}
    return _num((m.get(split) or {}).get(key))


def _best_by_valid(models: Mapping, names) -> str | None:
    """Name with the highest validation R² (ties: first in order); None if none has one."""
    best, best_v = None, -math.inf
    for n in names:
        v = _metric(models, n, "valid", "r2")
        if math.isfinite(v) and v > best_v:
            best, best_v = n, v
    return best


def display_name(name: str, kind: str, genotype: bool) -> str:
    """The model's name as the report shows it (ridge on genotypes names its GS equivalent)."""
    if kind == "ridge" and genotype:
        return f"{name} (rrBLUP/GBLUP-equivalent)"
    return str(name)


def _ceiling(ctx: Mapping) -> tuple[float, str] | None:
    nc = ctx.get("noise_ceiling")
    if nc is None:
        return None
    if isinstance(nc, Mapping):
        v = _num(nc.get("value", nc.get("r2")))
        src = str(nc.get("source") or "noise ceiling")
    else:
        v, src = _num(nc), "noise ceiling"
    return (v, src) if math.isfinite(v) else None


def verdict(ctx: Mapping) -> dict:
    """The comparison paragraph: the cohort summary's verdict in words, with its interval.

    Returns ``{"case": comparison ("better" | "indistinguishable" | "worse" |
    "no_model_predicts" | "none"), "html": str, "summary": dict}``; ``summary`` is
    :func:`seq2pheno.cohort_summary.summarise` of ``ctx`` (or ``ctx["summary"]`` when given).
    """
    from .cohort_summary import summarise

    models = ctx.get("models") or {}
    if not models:
        return {"case": "none", "html": "<p>No model was evaluated.</p>", "summary": {}}
    summary = ctx.get("summary") or summarise(ctx)
    case = summary.get("comparison") or "none"
    cls = {"better": "verdict-cnn", "indistinguishable": "verdict-simple", "worse": "verdict-simple",
           "no_model_predicts": "verdict-none"}.get(case, "verdict-simple")
    parts = [f"<p><strong>{_e(VERDICT_HEADS.get(case, 'Verdict'))}</strong> {_e(summary.get('sentence', ''))}</p>"]
    if case in ("indistinguishable", "worse") and not _is_linear_name(summary, summary.get("best_model")):
        parts.append("<p>Prefer the simpler model here: it is faster, deterministic and easier to explain. "
                     "A network only earns its complexity when there is non-additive signal and enough "
                     "data to find it; these data do not show that.</p>")
    elif case in ("better", "indistinguishable", "worse") and _is_linear_name(summary, summary.get("best_model")):
        parts.append("<p>A linear model is the best here. That is common for polygenic traits and "
                     "small cohorts, and it is a result, not a failure.</p>")
    rel = summary.get("relatives") or {}
    if rel.get("sentence"):
        parts.append(f"<p>{_e(rel['sentence'])}</p>")
    sex = summary.get("sex_markers") or {}
    if sex.get("sentence"):
        parts.append(f"<p>{_e(sex['sentence'])}</p>")
    ceil = summary.get("ceiling")
    if ceil:
        parts.append(f"<p>For reference, the ceiling is {fmt_number(ceil['value'])}: "
                     f"{_e(ceil.get('label', ceil.get('source', '')))}.</p>")
    html = f'<div class="callout {cls}">' + "".join(parts) + "</div>"
    return {"case": case, "html": html, "summary": summary}


VERDICT_HEADS = {"better": "The network predicts better here.",
                 "indistinguishable": "The simpler model is as good here.",
                 "worse": "The simpler model is better here.",
                 "no_model_predicts": "No model predicts this phenotype."}


def _is_linear_name(summary: Mapping, name) -> bool:
    return bool(((summary.get("models") or {}).get(name) or {}).get("linear"))


def _genotype(ctx: Mapping) -> bool:
    g = ctx.get("genotype")
    if g is None:
        return str(ctx.get("source", "")).lower() in ("vcf", "markers", "plink")
    return bool(g)


# ------------------------------------------------------------------------------------ sections

def _removed_counts(removed) -> tuple[dict[str, int], dict[str, str]]:
    """reason -> count, and reason -> one example detail."""
    if removed is None:
        return {}, {}
    if isinstance(removed, pd.DataFrame):
        if removed.empty or "reason" not in removed.columns:
            return {}, {}
        counts = removed["reason"].astype(str).value_counts(sort=False)
        counts = {str(k): int(v) for k, v in counts.items()}
        examples = {}
        if "detail" in removed.columns:
            for reason, grp in removed.groupby(removed["reason"].astype(str), sort=False):
                d = grp["detail"].dropna().astype(str)
                d = d[d.str.len() > 0]
                if len(d):
                    examples[str(reason)] = d.iloc[0]
        return counts, examples
    return {str(k): int(v) for k, v in dict(removed).items()}, {}


def _summary_section(ctx: Mapping) -> str:
    splits = ctx.get("split_counts") or {}
    rows = [("Cohort", str(ctx.get("cohort", ""))),
            ("Source", str(ctx.get("source", "–") or "–"))]
    L = ctx.get("length")
    unit = "variant sites (tensor columns)" if _genotype(ctx) else "bp (tensor columns)"
    rows.append(("Length L", f"{fmt_number(int(L))} {unit}" if L is not None else "–"))
    if ctx.get("n_samples") is not None:
        rows.append(("Samples imported (N)", fmt_number(int(ctx["n_samples"]))))
    if ctx.get("n_kept") is not None:
        rows.append(("Samples kept after curation", fmt_number(int(ctx["n_kept"]))))
    counts, examples = _removed_counts(ctx.get("removed"))
    rows.append(("Samples removed", fmt_number(int(sum(counts.values())))))
    for s in ["train", "valid", "test", "unphenotyped"] + [k for k in splits if k not in
                                                          ("train", "valid", "test", "unphenotyped")]:
        if s in splits:
            rows.append((f"{s} split", fmt_number(int(splits[s]))))
    out = ['<div class="table-wrap"><table><tbody>']
    for k, v in rows:
        out.append(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>")
    out.append("</tbody></table></div>")
    if counts:
        df = pd.DataFrame({"reason": list(counts), "samples removed": [counts[k] for k in counts],
                           "example": [examples.get(k, "") for k in counts]})
        out.append("<h3>Samples removed, by reason</h3>")
        out.append(table_block(df, "Curation removes exact or near-duplicate sequences (keeping one per "
                               "group), related individuals and samples with unusable data, so that no "
                               "near-copy of a test sample is seen during training. The full list with "
                               "details is in curate/removed.tsv."))
    else:
        out.append("<p>No sample was removed during curation.</p>")
    for note in ctx.get("notes") or []:
        out.append(f"<p class=\"muted\">{_e(note)}</p>")
    return "".join(out)


def _distribution_section(ctx: Mapping) -> str:
    phen = ctx.get("phenotypes_by_split") or {}
    dist = ctx.get("distribution") or {}
    pairs = list(dist.get("pairs") or [])
    out = []
    if phen:
        fig = plots.phenotype_histograms(phen, pairs)
        out.append(figure_block(
            fig, "Left: the phenotype's distribution in each split, drawn on the same bins so the shapes "
            "can be compared. Right: the same data as cumulative curves; the Kolmogorov–Smirnov (KS) "
            "statistic D is the largest vertical gap between two curves. Curves that lie on top of each "
            "other mean the splits sample the same range of phenotypes, so the test score is a fair "
            "estimate.", alt="Phenotype distribution per split"))
    if pairs:
        rows = []
        for p in pairs:
            rows.append({"split A": str(p.get("a", "")), "split B": str(p.get("b", "")),
                         "KS statistic D": _num(p.get("ks_statistic")),
                         "p-value": _num(p.get("p_value"))})
        df = pd.DataFrame(rows)
        out.append(table_block(df, "D ranges from 0 (identical distributions) to 1 (no overlap)."))
        small = [p for p in rows if math.isfinite(p["p-value"]) and p["p-value"] < 0.05]
        what = ("<p>How to read the p-value: a small p-value (below 0.05, say) would mean the two splits' "
                "phenotypes are unlikely to come from the same distribution, so a model could be tested "
                "on a range of values it rarely saw in training and its test score would be biased. With "
                "large splits even a negligible difference can reach a small p-value, so look at D too: "
                "values below about 0.05 are harmless.</p>")
        out.append(what)
        if small:
            names = ", ".join(f"{_e(p['split A'])} vs {_e(p['split B'])}" for p in small)
            out.append(f'<div class="callout verdict-simple"><p>Attention: p &lt; 0.05 for {names}. '
                       "Check D and the histograms above before trusting the test score.</p></div>")
        else:
            out.append("<p>Here no pair of splits differs significantly (all p ≥ 0.05).</p>")
    stats = _split_stats(dist)
    if stats is not None:
        out.append(table_block(stats, "Number of phenotyped samples, mean and standard deviation per split "
                               "(original phenotype scale)."))
    if not out:
        out.append("<p>No phenotype distribution available.</p>")
    return "".join(out)


def _split_stats(dist: Mapping) -> pd.DataFrame | None:
    n, mean, sd = dist.get("n") or {}, dist.get("mean") or {}, dist.get("sd") or {}
    keys = [k for k in ["train", "valid", "test"] if k in n or k in mean] + \
           [k for k in list(n) + list(mean) if k not in ("train", "valid", "test")]
    keys = list(dict.fromkeys(keys))
    if not keys:
        return None
    return pd.DataFrame({"split": keys,
                         "n": pd.array([int(n[k]) if n.get(k) is not None else None for k in keys],
                                       dtype="Int64"),
                         "mean": [_num(mean.get(k)) for k in keys],
                         "SD": [_num(sd.get(k)) for k in keys]})


def _loss_section(ctx: Mapping) -> str:
    models = ctx.get("models") or {}
    hist = {n: e.get("history") for n, e in models.items()
            if e.get("history") is not None and len(e.get("history")) > 0}
    if not hist:
        return "<p>No training history was recorded (only non-iterative models were trained).</p>"
    fig = plots.loss_curves(hist)
    no_hist = [display_name(n, model_kind(n, models[n]), _genotype(ctx)) for n in models if n not in hist]
    extra = (f" No curve for {', '.join(no_hist)}: {'it is' if len(no_hist) == 1 else 'they are'} "
             "fitted in one step, not by epochs." if no_hist else "")
    return figure_block(
        fig, "Loss (mean squared error on the standardised phenotype) per epoch, on the training data "
        "(blue) and on the validation data the network never trains on (orange). The dashed line marks "
        "the epoch whose weights were kept (lowest validation loss). When the blue curve keeps falling "
        "while the orange one rises, the network is memorising the training samples (overfitting); "
        "early stopping keeps the weights from before that point." + extra,
        alt="Training and validation loss per epoch")


def _model_table(ctx: Mapping, summary: Mapping | None = None) -> tuple[pd.DataFrame, dict[int, str], str | None]:
    models = ctx.get("models") or {}
    genotype = _genotype(ctx)
    summary = summary or {}
    best = summary.get("best_model") or _best_by_valid(models, list(models))
    per_model = summary.get("models") or {}
    rows, hl = [], {}
    for i, (name, entry) in enumerate(models.items()):
        kind = model_kind(name, entry)
        h = entry.get("history")
        seconds = None
        if h is not None and len(h) and "seconds" in h.columns:
            seconds = float(pd.to_numeric(h["seconds"], errors="coerce").sum())
        n_test = (entry.get("metrics") or {}).get("test", {}).get("n")
        rows.append({
            "model": display_name(name, kind, genotype) + (" ★ best" if name == best else ""),
            "type": KIND_LABELS.get(kind, kind),
            "test R²": _metric(models, name, "test", "r2"),
            "valid R²": _metric(models, name, "valid", "r2"),
            "train R²": _metric(models, name, "train", "r2"),
            "test Pearson r": _metric(models, name, "test", "pearson_r"),
            "r 95 % interval": _interval_text((per_model.get(name) or {}).get("test_pearson_r") or {})
            .replace("95 % interval ", ""),
            "test Spearman ρ": _metric(models, name, "test", "spearman_r"),
            "test MSE": _metric(models, name, "test", "mse"),
            "test n": int(n_test) if n_test is not None else None,
            "training time (s)": seconds if seconds is not None else float("nan"),
        })
        if name == best:
            hl[i] = "best"
    ceil = _ceiling(ctx)
    if ceil:
        hl[len(rows)] = "ceiling"
        rows.append({"model": f"noise ceiling ({ceil[1]})", "type": "upper bound", "test R²": ceil[0],
                     "valid R²": float("nan"), "train R²": float("nan"), "test Pearson r": float("nan"),
                     "r 95 % interval": "",
                     "test Spearman ρ": float("nan"), "test MSE": float("nan"), "test n": None,
                     "training time (s)": float("nan")})
    df = pd.DataFrame(rows)
    df["test n"] = df["test n"].astype("Int64")
    if df["training time (s)"].isna().all():
        df = df.drop(columns=["training time (s)"])
    return df, hl, best


def _models_section(ctx: Mapping, verdict_info: dict) -> str:
    models = ctx.get("models") or {}
    if not models:
        return "<p>No model was evaluated.</p>"
    df, hl, best = _model_table(ctx, verdict_info.get("summary"))
    ceil = _ceiling(ctx)
    cap = ("All models were trained on the same training split; the best (highlighted) is chosen by "
           "validation R², and the test split, used for nothing else, gives the honest score. R² is the "
           "fraction of phenotypic variance explained (1 = perfect, 0 = no better than predicting the "
           "mean). Pearson r measures linear agreement, Spearman ρ agreement in ranking (what matters for "
           "selecting the top candidates); MSE is in squared phenotype units. A train R² far above test "
           "R² signals overfitting.")
    if ceil:
        cap += (f" The noise ceiling ({ceil[1]}) is the share of variance that is reproducible at all; the "
                "gap between a model and the ceiling is what a better model could still gain.")
    return table_block(df, cap, highlight=hl, formats={"training time (s)": "{:,.1f}"}) + verdict_info["html"]


def _best_model_section(ctx: Mapping) -> str:
    models = ctx.get("models") or {}
    best = _best_by_valid(models, list(models))
    if best is None:
        return "<p>No model has validation metrics; nothing to show.</p>"
    pred = models[best].get("predictions")
    if pred is None or len(pred) == 0:
        return f"<p>No predictions were recorded for {_e(best)}.</p>"
    pred = pred.copy()
    split = "test"
    sub = pred[pred["split"].astype(str) == "test"] if "split" in pred.columns else pred
    if len(sub) == 0:
        split = "all"
        sub = pred
    sub = sub[np.isfinite(pd.to_numeric(sub["observed"], errors="coerce"))]
    name = display_name(best, model_kind(best, models[best]), _genotype(ctx))
    obs = pd.to_numeric(sub["observed"], errors="coerce").to_numpy()
    prd = pd.to_numeric(sub["predicted"], errors="coerce").to_numpy()
    which = "test samples" if split == "test" else "samples (no test split was recorded)"
    out = [f"<p>The best model by validation R² is <strong>{_e(name)}</strong>. Below, its predictions "
           f"for the {len(sub):,} {which}.</p>", '<div class="fig-row">']
    out.append(figure_block(
        plots.observed_vs_predicted(obs, prd, f"{name}: {split} samples"),
        "Each dot is one sample, placed by its measured (x) and predicted (y) phenotype. Dots on the "
        "dashed line are predicted exactly; the vertical spread around it is the prediction error. A "
        "cloud flatter than the line means extreme phenotypes are pulled towards the mean, which is "
        "typical when part of the variance is not predictable.",
        alt="Observed versus predicted phenotype"))
    out.append(figure_block(
        plots.error_histogram(obs, prd),
        "Distribution of prediction errors (predicted minus observed, in phenotype units). A narrow bump "
        "centred on zero (dashed line) is what we want; a shifted centre (red line) means systematic "
        "over- or under-prediction, and long tails point to samples worth a closer look.",
        alt="Histogram of prediction errors"))
    out.append("</div>")
    return "".join(out)


def _glossary() -> str:
    items = [
        ("R² (coefficient of determination)", "1 − (sum of squared errors) / (sum of squared deviations "
         "from the mean). The share of phenotypic variance the model explains on samples it did not train "
         "on. Can be negative for a model worse than predicting the mean."),
        ("Noise ceiling", "The highest R² reachable given measurement noise: the broad-sense heritability "
         "H² for simulated cohorts, or the repeatability between replicate measurements."),
        ("Training / validation / test split", "Training samples fit the model; validation samples choose "
         "when to stop and which model is best; test samples are touched once, to report the score. "
         "GBLUP, the sparse model and a network with refit (the screened genotype network) then make their final "
         "fit on training and validation samples together; their validation scores come from the fit "
         "without them, so every choice made on validation stays out of sample."),
        ("CNN", "Convolutional neural network: learns short sequence patterns (motifs) and how they combine."),
        ("Ridge regression", "A linear model with one weight per position and nucleotide, shrunk towards "
         "zero. On genotypes it is equivalent to rrBLUP and GBLUP, the standard genomic-selection models."),
        ("Kolmogorov–Smirnov (KS) test", "Compares two distributions; D is the largest gap between their "
         "cumulative curves."),
    ]
    return '<dl class="glossary">' + "".join(f"<dt>{_e(a)}</dt><dd>{_e(b)}</dd>" for a, b in items) + "</dl>"


def _overview(ctx: Mapping, verdict_info: dict) -> str:
    summary = verdict_info.get("summary") or {}
    models = ctx.get("models") or {}
    best = summary.get("best_model")
    if best is None or best not in models:
        return ""
    name = display_name(best, model_kind(best, models[best]), _genotype(ctx))
    test = ((summary.get("models") or {}).get(best) or {})
    r, r2 = test.get("test_pearson_r") or {}, test.get("test_r2") or {}
    if verdict_info.get("case") == "no_model_predicts":
        s = (f"<p><strong>In short:</strong> no model predicts this phenotype from these data "
             f"(the best, {_e(name)}, has test R² {fmt_number(_num(r2.get('value')))}, "
             f"{_interval_text(r2)}). See the model comparison for the likely causes.")
    else:
        s = (f"<p><strong>In short:</strong> the best model (chosen on validation), <strong>{_e(name)}</strong>, "
             f"predicts the phenotype of samples it never saw with Pearson r "
             f"{fmt_number(_num(r.get('value')))} ({_interval_text(r)}) and R² "
             f"{fmt_number(_num(r2.get('value')))}")
        ceil = summary.get("ceiling")
        if ceil:
            s += f", against a ceiling of {fmt_number(ceil['value'])} ({_e(ceil.get('source', ''))})"
        s += "."
        if summary.get("comparison") in ("better", "indistinguishable", "worse"):
            s += " " + _e(VERDICT_HEADS[summary["comparison"]])
    return f'<div class="callout">{s}</p></div>'


def _interval_text(iv: Mapping) -> str:
    lo, hi = iv.get("lower"), iv.get("upper")
    if lo is None or hi is None:
        return "no interval"
    return f"95 % interval {fmt_number(float(lo))} to {fmt_number(float(hi))}"


# -------------------------------------------------------------------------------------- render

def render_report(ctx: Mapping) -> str:
    """Render the cohort report as one self-contained HTML string (see the module docstring)."""
    cohort = str(ctx.get("cohort", "cohort"))
    title = str(ctx.get("title") or f"seq2pheno report: {cohort}")
    v = verdict(ctx)
    used: set[str] = set()
    sections = [
        ("Cohort summary", _summary_section(ctx)),
        ("Phenotype distribution across splits", _distribution_section(ctx)),
        ("Training curves", _loss_section(ctx)),
        ("Model comparison", _models_section(ctx, v)),
        ("Best model: predictions on the test set", _best_model_section(ctx)),
    ]
    built = [(t, _slug(t, used), body) for t, body in sections]
    for extra in ctx.get("extra_sections") or []:
        t = str(extra.get("title", "Additional results"))
        anchor = extra.get("anchor")
        slug = _slug(anchor or t, used)
        built.append((t, slug, str(extra.get("html", ""))))
    built.append(("Glossary", _slug("Glossary", used), _glossary()))

    toc = "".join(f'<li><a href="#{_e(s)}">{_e(t)}</a></li>' for t, s, _ in built)
    body = "".join(f'<section id="{_e(s)}"><h2>{_e(t)}</h2>\n{b}\n</section>\n' for t, s, b in built)
    src = ctx.get("source")
    sub = f"Cohort <strong>{_e(cohort)}</strong>" + (f", source <code>{_e(src)}</code>" if src else "")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f"<h1>{_e(title)}</h1>\n<p class=\"subtitle\">{sub}. Phenotype prediction from DNA with "
        "convolutional neural networks and a linear baseline.</p>\n"
        f"{_overview(ctx, v)}\n<nav class=\"toc\"><strong>Contents</strong><ol>{toc}</ol></nav>\n"
        f"{body}<footer>Generated by seq2pheno. This file is self-contained: every figure is embedded, "
        "and it can be shared or archived as is.</footer>\n</main>\n</body>\n</html>\n")


def write_report(path: str | os.PathLike, ctx: Mapping) -> None:
    """Render and write the report atomically: a temporary file beside ``path``, then a rename.

    If rendering or writing fails, ``path`` is left untouched (no partial file) and the error is
    raised.
    """
    write_text(render_report(ctx), path)


def _read_tsv(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", dtype={"id": str, "group": str, "reason": str, "detail": str,
                                              "split": str}, keep_default_na=True)


def _per_model(paths: Mapping, key: str, models: list[str]) -> dict[str, Any]:
    v = paths.get(key)
    if v is None:
        return {}
    if isinstance(v, Mapping):
        return dict(v)
    if isinstance(v, (str, os.PathLike)):
        return {models[0]: v} if len(models) == 1 else {}
    return dict(zip(models, list(v)))


def _exists(p) -> bool:
    return p is not None and str(p) != "" and os.path.exists(p)


def load_context(cohort: str, paths: Mapping, models: list[str], *, source: str | None = None,
                 genotype: bool | None = None, model_kinds: Mapping[str, str] | None = None) -> dict:
    """Read the workflow's outputs for one cohort into a report ``ctx``.

    ``paths`` keys (paths as str or Path; optional ones may be missing or None):
      ``samples`` (data/samples.tsv), ``kept`` (curate/kept.tsv), ``removed`` (curate/removed.tsv),
      ``split`` (split/split.tsv), ``distribution`` (split/distribution.json);
      optional ``truth`` (data/truth.json: its ``H2`` becomes the noise ceiling),
      ``curate_summary`` (JSON with ``noise_ceiling``: a number or ``{"value"|"r2": ...}``,
      the replicate repeatability; used when there is no truth), ``features`` (data/features.tsv:
      gives L, and marks a genotype cohort when it has a ``chrom`` column), ``onehot``
      (data/onehot.npy, read memory-mapped for L when ``features`` is absent);
      per model ``metrics``, ``history``, ``predictions``: each a dict model -> path, or a list in
      the order of ``models``. A history or predictions file that is absent is recorded as None.
    ``source``: the cohort's source (simulate/table/fasta/vcf) for the summary; guessed when None
    (truth.json -> simulate, features with chrom -> vcf). ``model_kinds``: model -> "cnn"/"ridge"
    from the config (default: by name, see :func:`model_kind`).
    """
    ctx: dict[str, Any] = {"cohort": cohort}
    if _exists(paths.get("samples")):
        ctx["n_samples"] = int(len(_read_tsv(paths["samples"])))
    kept = _read_tsv(paths["kept"]) if _exists(paths.get("kept")) else None
    if kept is not None:
        ctx["n_kept"] = int(len(kept))
    if _exists(paths.get("removed")):
        rem = _read_tsv(paths["removed"])
        ctx["removed"] = rem
    else:
        ctx["removed"] = {}
    features = _read_tsv(paths["features"]) if _exists(paths.get("features")) else None
    if features is not None:
        ctx["length"] = int(len(features))
    elif _exists(paths.get("onehot")):
        ctx["length"] = open_tensor(paths["onehot"]).shape[1]
    if _exists(paths.get("split")):
        sp = _read_tsv(paths["split"])
        ctx["split_counts"] = {str(k): int(v) for k, v in sp["split"].value_counts(sort=False).items()}
        if kept is not None and "phenotype" in kept.columns:
            m = sp[["id", "split"]].merge(kept[["id", "phenotype"]], on="id", how="left")
            m["phenotype"] = pd.to_numeric(m["phenotype"], errors="coerce")
            ctx["phenotypes_by_split"] = {
                s: m.loc[m["split"] == s, "phenotype"].dropna().to_numpy(float)
                for s in _SPLITS if (m["split"] == s).any()}
    if _exists(paths.get("distribution")):
        with open(paths["distribution"]) as fh:
            ctx["distribution"] = json.load(fh)
    truth = None
    if _exists(paths.get("truth")):
        with open(paths["truth"]) as fh:
            truth = json.load(fh)
        h2 = _num(truth.get("H2", truth.get("h2")))
        if math.isfinite(h2):
            ctx["noise_ceiling"] = {"value": h2, "source": "simulation truth H²"}
    if "noise_ceiling" not in ctx and _exists(paths.get("curate_summary")):
        with open(paths["curate_summary"]) as fh:
            summ = json.load(fh)
        nc = summ.get("noise_ceiling")
        if isinstance(nc, Mapping):
            nc = nc.get("value", nc.get("r2"))
        if nc is not None and math.isfinite(_num(nc)):
            ctx["noise_ceiling"] = {"value": _num(nc), "source": "replicate repeatability"}
    if source is None:
        if truth is not None:
            source = "simulate"
        elif features is not None and "chrom" in features.columns:
            source = "vcf"
    if source is not None:
        ctx["source"] = source
    if genotype is None:
        genotype = (str(source).lower() in ("vcf", "markers", "plink")) or (features is not None and "chrom" in features.columns)
    ctx["genotype"] = bool(genotype)

    mpaths = _per_model(paths, "metrics", models)
    hpaths = _per_model(paths, "history", models)
    ppaths = _per_model(paths, "predictions", models)
    ctx["models"] = {}
    for name in models:
        entry: dict[str, Any] = {"metrics": {}, "history": None, "predictions": None}
        if _exists(mpaths.get(name)):
            with open(mpaths[name]) as fh:
                entry["metrics"] = json.load(fh)
        if _exists(hpaths.get(name)) and os.path.getsize(hpaths[name]) > 0:
            h = pd.read_csv(hpaths[name], sep="\t")
            entry["history"] = h if len(h) else None
        if _exists(ppaths.get(name)):
            entry["predictions"] = _read_tsv(ppaths[name])
        if model_kinds and name in model_kinds:
            entry["kind"] = model_kinds[name]
        ctx["models"][name] = entry
    ctx["ceiling_sources"] = _ceiling_sources(ctx, truth, paths)
    if _exists(paths.get("per_fold")):
        ctx["per_fold"] = _read_tsv(paths["per_fold"])
    return ctx


def _ceiling_sources(ctx: Mapping, truth: Mapping | None, paths: Mapping) -> dict:
    """What each ceiling could come from: the simulated H², true replicates (curate summary),
    REML h² (a gblup model's history)."""
    out: dict[str, Any] = {"truth": None, "replicate": None, "reml_h2": None}
    if truth is not None:
        out["truth"] = _num(truth.get("H2", truth.get("h2")))
    if _exists(paths.get("curate_summary")):
        with open(paths["curate_summary"]) as fh:
            summ = json.load(fh)
        out["replicate"] = summ.get("replicates") or None
    for name, entry in (ctx.get("models") or {}).items():
        h = entry.get("history")
        if entry.get("kind") == "gblup" and h is not None and "h2" in h.columns and len(h):
            out["reml_h2"] = {"h2": _num(h["h2"].iloc[0]),
                              "se": _num(h["h2_se"].iloc[0]) if "h2_se" in h.columns else None}
            break
    return out
