"""Mounted under ``/api/``: ``devices/``, ``devices/<id>/``, ``alerts/``, ``alerts/<id>/acknowledge`` …"""
from rest_framework.routers import SimpleRouter

from devices import api

router = SimpleRouter()
router.trailing_slash = "/?"  # like /api/plugins/<id>: with or without the slash (set after init on purpose)
router.register("devices", api.DeviceViewSet, basename="device")
router.register("alerts", api.AlertViewSet, basename="alert")

urlpatterns = router.urls
