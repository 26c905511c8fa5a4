"""Reading metric values in tests: one process's own samples, or a scraped exposition."""

from __future__ import annotations


def value(metric, **labels: str) -> float:  # type: ignore[no-untyped-def]
    """This process's value of one sample of `metric` (suffix _total/_count/"" chosen by kind)."""
    child = metric.labels(**labels) if labels else metric
    for family in child.collect():
        for sample in family.samples:
            if sample.name.endswith(("_total", "_count")) or sample.name == family.name:
                return sample.value
    raise AssertionError("no sample")


def scrape(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, number = line.rpartition(" ")
        metric_name, _, rest = key.partition("{")
        got = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if metric_name == name and got == wanted:
            return float(number)
    raise AssertionError(f"{name}{labels} not in /metrics")
