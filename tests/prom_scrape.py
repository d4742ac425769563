"""Scraping ``/metrics`` over HTTP and reading it with prometheus_client's own parser."""

from __future__ import annotations

import urllib.request
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

Samples = list[Sample]


def scrape(url: str) -> Samples:
    """Every sample ``url`` (a ``/metrics`` address on 127.0.0.1) answers with."""
    assert url.startswith(("http://127.0.0.1:", "http://[::1]:")), url
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode("utf-8")
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    return sum(
        s.value
        for s in samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    )


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    """The samples named ``name`` summed by the value of ``label``."""
    found: dict[str, float] = defaultdict(float)
    for s in samples:
        if s.name == name:
            found[s.labels.get(label, "")] += s.value
    return dict(found)


def names(samples: Samples) -> set[str]:
    """The sample names of a scrape (``..._total``, ``..._bucket``...)."""
    return {s.name for s in samples}


def values_of(samples: Samples, name: str, label: str) -> set[str]:
    """The distinct values ``label`` takes on the samples named ``name``."""
    return {s.labels[label] for s in samples if s.name == name and label in s.labels}
