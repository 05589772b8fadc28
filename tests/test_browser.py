"""The web page and a report in a real headless Chromium, served by the real `serve` command: the plots
render (by the DOM and by a screenshot that is not blank) and the page's forecast form works."""

from __future__ import annotations

import io

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from recursive_training.forecasting import forecast_with_trusted_models
from recursive_training.report import FAN_CHART, TRUST_PLOT

from .cdp import CHROMIUM, Browser
from .conftest import finished_run, running_server

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (.ci/run installs it with apt-get)")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The serve command over an output directory with one finished run; yields its base URL."""
    root = finished_run(tmp_path_factory.mktemp("site"), ("naive", "ar(order=3)"))
    with running_server(root / "runs") as (url, _):
        yield url, root


@pytest.fixture(scope="module")
def browser():
    chromium = Browser()
    yield chromium
    chromium.close()


def test_the_page_shows_the_trust_plot_and_the_forecast_chart(site, browser, tmp_path):
    url, _ = site
    browser.open(url)
    sizes = browser.wait_for(
        "[...document.querySelectorAll('#newest img')].every(i => i.complete) && "
        "[...document.querySelectorAll('#newest img')].map(i => [i.alt, i.naturalWidth, i.naturalHeight])")
    assert [alt for alt, _, _ in sizes] == [TRUST_PLOT, FAN_CHART]
    assert all(width > 300 and height > 80 for _, width, height in sizes)  # decoded, not broken-image icons
    pixels = matplotlib.image.imread(io.BytesIO(browser.screenshot(tmp_path / "page.png")))
    colours = np.unique((pixels[..., :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert pixels.shape[0] > 800 and len(colours) > 100  # not blank: text, plot lines, bands and points


def test_the_page_starts_a_forecast_and_shows_its_table(site, browser, tmp_path):
    url, root = site
    browser.open(url)
    assert browser.evaluate("document.querySelectorAll('#runs tbody tr').length") == 1
    browser.evaluate("document.querySelector('[name=horizon]').value = '2'")
    browser.evaluate("document.querySelector('[name=variables]').value = 'walk, sine'")
    browser.evaluate("document.querySelector('#forecast-form button').click()")
    state = browser.wait_for("/: (done|failed)/.test(document.getElementById('forecast-state').textContent) && "
                             "document.getElementById('forecast-state').textContent")
    assert state.endswith(": done"), state
    cells = browser.evaluate("[...document.querySelectorAll('#forecast-rows tbody tr')]"
                             ".map(row => [...row.cells].map(cell => cell.textContent))")
    expected = forecast_with_trusted_models(root / "store", 2, tmp_path / "f.csv", output_dir=root / "runs",
                                            variables=("walk", "sine")).frame
    assert [c[0] for c in cells] == list(expected.variable) and len(cells) == 4
    assert [float(c[3]) for c in cells] == pytest.approx(list(expected.forecast.round(3)), abs=1e-3)
    assert [pd.Timestamp(c[1]) for c in cells] == list(expected.timestamp)


def test_a_report_renders_with_every_plot(site, browser, tmp_path):
    url, _ = site
    browser.open(url)
    browser.evaluate("document.querySelector(\"a[href='/runs/r1/report']\").click()")
    browser.wait_for("location.pathname === '/runs/r1/report' && document.readyState === 'complete'")
    images = browser.wait_for("document.images.length === 4 && [...document.images].every(i => i.complete) && "
                              "[...document.images].map(i => [i.naturalWidth, i.naturalHeight])")
    assert all(width > 300 and height > 80 for width, height in images)  # decoded, not broken-image icons
    assert browser.evaluate("document.querySelector('h1').textContent") == "Run r1"
