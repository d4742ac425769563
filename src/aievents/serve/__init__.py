"""``aievents serve``: OpenAI's usage API and a dashboard over HTTP (extra ``[serve]``).

The dashboard's routes come from :mod:`aievents.serve._dashboard`
(``dashboard_routes(reports)``): a page at ``/`` drawn on the server from
``reports.usage()``, with its stylesheet and script served by the package.
"""
