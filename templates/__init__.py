"""The Jinja2 templates of the report (installed as zoo.templates)."""
