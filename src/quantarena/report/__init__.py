"""Reports from ``results.json`` only. Each concern has one home:

- ``columns``: the headline table's columns (title, help, value, style), rendered by ``table``
  (terminal and report.md) and ``html_blocks`` (report.html);
- ``findings``: what was not measured and the notes, for every format;
- ``charts`` builds ``chart_specs`` (with ``axes`` and ``frontier``); ``charts_plotly`` and
  ``charts_png`` only draw them;
- ``markdown`` and ``html`` (with ``html_blocks``, ``html_panels`` and ``assets/report.css``)
  assemble the pages; ``compare`` puts two runs, or two variants, side by side.
"""
