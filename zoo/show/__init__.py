"""Showing: figures as plain dicts, the report (Jinja2 + Plotly), galleries, `zoo list`'s
table and `zoo serve`. Keras only to load a kept model, lazily."""
