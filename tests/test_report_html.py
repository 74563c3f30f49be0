"""report.html: self-contained, complete disclosure, charts with fallbacks; in headless Chromium:
no console errors, no network, one frontier point per ok variant, hover names the variant."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from quantarena.report.columns import COLUMNS
from quantarena.report.html import HTML_FILE, render_html, write_html
from quantarena.report.table import table_rows
from quantarena.results.environment import ISA_FLAGS, Cpu, Environment, Gpu, Load
from quantarena.results.schema import DatasetInfo, ModelInfo, Results, Tool, VariantResult

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# name, precision, top-1, p50 ms, size MB, delta significant?
OK_VARIANTS = [
    ("pytorch:fp32", "fp32", 0.800, 20.0, 14.0, None),
    ("pytorch:int8", "int8", 0.780, 9.0, 3.9, True),
    ("onnxruntime:fp32", "fp32", 0.800, 15.0, 13.9, False),
    ("onnxruntime:int8", "int8", 0.795, 6.0, 3.6, False),
    ("openvino:int8", "int8", 0.790, 6.5, 3.8, False),
]


def _ok_variant(
    name: str,
    precision: str,
    top1: float,
    p50: float,
    size: float,
    significant: bool | None,
    accuracy: bool = True,
) -> VariantResult:
    toolchain = name.split(":")[0]
    delta = (top1 - 0.8) * 100
    acc: dict[str, Any] | None = None
    if accuracy:
        acc = {
            "images": 200,
            "top1": top1,
            "top5": min(1.0, top1 + 0.12),
            "top1_delta_pp": delta,
            "agreement_top1": 1.0 - abs(delta) / 50,
        }
        if significant is not None:
            acc["vs_reference"] = {
                "images": 200,
                "delta_pp": delta,
                "ci95_pp": [delta - 1.5, delta + 1.5],
                "mcnemar_p": 0.01 if significant else 0.6,
                "gained": 2,
                "lost": 6,
                "significant": significant,
            }
    return VariantResult(
        name=name,
        toolchain=toolchain,
        precision=precision,
        status="ok",
        recipe={"precision": precision, "calibration_method": "minmax", "per_channel": True},
        artifact={
            "path": f"variants/{name.replace(':', '_')}/model.onnx",
            "size_mb": size,
            "files": ["model.onnx"],
        },
        build={"seconds": 3.5, "calibration_images": 32 if precision == "int8" else 0},
        accuracy=acc,
        latency_ms={
            "batch": 1,
            "iterations": 300,
            "seconds": 3.0,
            "mean": p50 * 1.05,
            "std": p50 * 0.1,
            "min": p50 * 0.9,
            "p25": p50 * 0.96,
            "p50": p50,
            "p75": p50 * 1.06,
            "p90": p50 * 1.15,
            "p99": p50 * 1.4,
            "max": p50 * 1.8,
            "cv": 0.1,
            "p50_ci95": [p50 * 0.98, p50 * 1.02],
            "stop_reason": "max_seconds",
            "warmup_iterations": 10,
            "warmup_stable": True,
        },
        throughput=[
            {
                "batch": 32,
                "images_per_s": 1000.0 / p50 * 1.5,
                "images_per_s_ci95": [1.0, 2.0],
                "iterations": 20,
                "batch_latency_ms_p50": p50 * 20,
                "stop_reason": "max_seconds",
            }
        ],
        memory={"peak_rss_mb": 300.0 + size},
        cpu_time={"batch": 32, "window_s": 3.0, "images": 640, "seconds_per_image": p50 / 1000 * 2},
        unavailable={
            "energy": "no RAPL (/sys/class/powercap) or NVML energy counter readable here"
        },
        timings={"load_seconds": 0.4, "first_inference_ms": p50 * 3},
        runtime={"threads": 2, "provider": "CPUExecutionProvider"},
        notes=["calibrated on 32 images"] if precision == "int8" else [],
        baseline=f"{toolchain}:fp32"
        if f"{toolchain}:fp32" in {spec[0] for spec in OK_VARIANTS}
        else None,
    )


def make_environment() -> Environment:
    """A fixed machine (not this one): reports and comparisons must not depend on where the
    tests run."""
    return Environment(
        cpu=Cpu(
            model="Test CPU @ 2.0GHz",
            arch="x86_64",
            logical_cores=8,
            physical_cores=4,
            isa={
                flag: flag in ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni")
                for flag in ISA_FLAGS
            },
        ),
        threads=2,
        pin_cpus=None,
        memory_gb=31.3,
        os="Linux 6.1",
        python="3.11.7",
        quantarena="0.1.0",
        packages={"numpy": "2.0.0", "onnxruntime": "1.20.0", "torch": "2.6.0", "tensorrt": None},
        gpu=None,
        load_before=Load(cpu_percent=3.0, loadavg_1m=0.2),
    )


def make_report_results(*, accuracy: bool = True) -> Results:
    """Five ok variants over three toolchains, one failed, one unavailable."""
    variants = [_ok_variant(*spec, accuracy=accuracy) for spec in OK_VARIANTS]
    variants.append(
        VariantResult(
            name="onnxruntime:int8-dynamic",
            toolchain="onnxruntime",
            precision="int8",
            status="failed",
            reason="measure: worker crashed (SIGSEGV) | exit -11",
        )
    )
    variants.append(
        VariantResult(
            name="tensorrt:int8",
            toolchain="tensorrt",
            precision="int8",
            status="unavailable",
            reason="no NVIDIA GPU",
        )
    )
    return Results(
        tool=Tool(version="0.1.0"),
        started_at="2026-01-01T00:00:00+00:00",
        finished_at="2026-01-01T00:10:00+00:00",
        config={"threads": 2, "seed": 0},
        environment=make_environment(),
        model=ModelInfo(
            name="mobilenet_v2",
            source="torchvision",
            weights="IMAGENET1K_V1" if accuracy else "none",
            pretrained=accuracy,
            input_shape=[3, 224, 224],
            preprocessing={"resize": 256, "crop": 224},
        ),
        dataset=DatasetInfo(
            name="imagenet-val-sample",
            root="/data/sample",
            layout="labels-csv",
            eval_images=200,
            calibration_images=32,
            eval_list_sha256="e" * 64,
            calibration_list_sha256="c" * 64,
            seed=0,
        ),
        reference="pytorch:fp32",
        variants=variants,
    )


def _figure_json(page: str, div_id: str) -> list[dict[str, Any]]:
    """The traces plotly.py embedded for one chart (``Plotly.newPlot("id", [traces], ...)``)."""
    match = re.search(r'Plotly\.newPlot\(\s*"' + div_id + r'",\s*(\[.*?\]),\s*\{', page, re.S)
    assert match, f"no figure {div_id}"
    traces: list[dict[str, Any]] = json.loads(match.group(1))
    return traces


def test_page_is_self_contained_and_complete() -> None:
    results = make_report_results()
    page = render_html(results)
    assert page.count("<script") == 1 + 4  # plotly.js once + one per chart
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?:', page), (
        "no external resources"
    )
    for cells in table_rows(results):
        assert f"<code>{cells[0]}</code>" in page
    for column in COLUMNS:
        assert column.title in page
    assert "worker crashed (SIGSEGV) | exit -11" in page and "no NVIDIA GPU" in page
    assert "e" * 64 in page and "c" * 64 in page  # dataset list hashes
    assert "calibration_method" in page and "per_channel" in page  # every recipe knob
    assert "avx512_vnni" in page  # ISA flags of the environment
    assert "IMAGENET1K_V1" in page


def test_stylesheet_is_package_data_inlined_once() -> None:
    from quantarena.report.html import stylesheet

    css = (REPO / "src/quantarena/report/assets/report.css").read_text()
    assert stylesheet() == css and ".sig-down" in css
    page = render_html(make_report_results())
    assert page.count("<style>") == 1 and f"<style>{css}</style>" in page


def test_environment_panel_reads_the_typed_environment() -> None:
    results = make_report_results()
    # "container": a key from a newer writer, shown rather than dropped
    env = results.environment = Environment.model_validate(
        {**results.environment.model_dump(), "container": "docker"}
    )
    env.pin_cpus = [0, 1]
    env.gpu = [Gpu(name="Some GPU", driver="550.1", memory="24 GiB")]
    env.load_before = Load(cpu_percent=55.0, loadavg_1m=3.5, warning="the machine was busy")
    page = render_html(results)
    for text in (
        "Test CPU @ 2.0GHz",
        "4 physical, 8 logical",
        "[0, 1]",
        "31.3 GB",
        "Linux 6.1",
        "Some GPU (driver 550.1, 24 GiB)",
        "CPU 55%, load average 3.5 (1 min) — busy",
        "<dt>container</dt><dd>docker</dd>",
        '<span class="on">avx512_vnni</span>',
        '<span class="off">amx_int8</span>',
        "<code>tensorrt</code></td><td class='l'>not installed",
        "Warning: the machine was busy; numbers may be skewed.",
    ):
        assert text in page, text


def test_frontier_chart_has_one_point_per_ok_variant_and_names_them() -> None:
    page = render_html(make_report_results())
    traces = _figure_json(page, "chart-frontier")
    points = [t for t in traces if "markers" in t.get("mode", "")]
    names = [d[0] for t in points for d in t["customdata"]]
    assert sorted(names) == sorted(spec[0] for spec in OK_VARIANTS)
    frontier = next(t for t in traces if t["name"] == "Pareto frontier")
    assert frontier["x"] == [
        6.0,
        15.0,
    ]  # onnxruntime:int8 (fastest), onnxruntime:fp32 (as accurate as pytorch:fp32, faster)


def test_without_accuracy_charts_fall_back_to_latency_and_size(tmp_path: Path) -> None:
    results = make_report_results(accuracy=False)
    path = write_html(results, tmp_path)
    page = path.read_text()
    assert path.name == HTML_FILE
    assert "Accuracy is unavailable" in page and "Random weights" in page
    traces = _figure_json(page, "chart-frontier")
    assert [t["type"] for t in traces] == ["bar"]
    assert sorted(traces[0]["y"]) == sorted(spec[0] for spec in OK_VARIANTS)
    assert traces[0]["x"] == sorted(traces[0]["x"])  # fastest first


@pytest.mark.browser
def test_report_in_headless_chromium(tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    path = write_html(make_report_results(), tmp_path)
    url = path.resolve().as_uri()
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url, wait_until="load")
            page.wait_for_selector("#chart-frontier .scatterlayer path.point")
            points = page.locator("#chart-frontier .scatterlayer .trace path.point")
            assert points.count() == len(OK_VARIANTS)
            points.first.scroll_into_view_if_needed()
            box = points.first.bounding_box()
            assert box is not None
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            hover = page.locator("#chart-frontier .hoverlayer .hovertext")
            hover.first.wait_for(timeout=5000)
            assert any(name in (hover.first.text_content() or "") for name, *_ in OK_VARIANTS)
            page.mouse.move(0, 0)
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= 1280, "the page must fit a laptop-width window"
            out = REPO / "test-artifacts"
            out.mkdir(exist_ok=True)
            page.screenshot(path=str(out / "report.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert requests == [url]


def test_sparse_results_still_render(tmp_path: Path) -> None:
    """A run where nothing was timed (all failed, or interrupted) still gets a page without
    errors."""
    from test_results import make_results

    page = write_html(make_results(), tmp_path).read_text()
    assert "worker crashed (SIGSEGV)" in page and "x:fp32" in page
