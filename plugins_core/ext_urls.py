"""Plugin routes, mounted at /ext/ by config/urls.py."""
from django.urls import path

from plugins_core.routes import PluginRouteView

urlpatterns = [
    # The root route is documented with the others, as /ext/{slug}/{subpath}.
    path("<slug:slug>/", PluginRouteView.as_view(schema=None), name="plugin-route-root"),
    path("<slug:slug>/<path:subpath>", PluginRouteView.as_view(), name="plugin-route"),
]
