# expect: ok
from src.ext.sdk import hook


@hook("attack")
def run(ctx, data):
    for url in ("http://127.0.0.1:5432/", "http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/",
                "http://localhost:8000/admin/", "file:///etc/passwd", "http://[::1]/"):
        try:
            response = ctx.http.get(url)
            return f"ESCAPED {url} -> {response.status_code}"
        except Exception as exc:
            if "not allowed" not in str(exc):
                return f"ESCAPED? unexpected {exc}"
    return "contained"
