"""The marketplace pages and the session sign-in they use (mounted at the site root)."""
from django.contrib.auth import views as auth_views
from django.urls import path

from marketplace import consent, installation_pages, store_pages, views

app_name = "marketplace"
urlpatterns = [
    path("", views.browse, name="browse"),
    path("plugins/<slug:slug>/", views.detail, name="detail"),
    path("plugins/<slug:slug>/install/", consent.install, name="install"),
    path("plugins/<slug:slug>/review/", store_pages.save_plugin_review, name="plugin-review"),
    path("plugins/<slug:slug>/media/<int:version>/<path:name>", store_pages.plugin_image, name="plugin-image"),
    path("installed/", views.installed, name="installed"),
    path("installed/<int:pk>/", installation_pages.installation_page, name="installation"),
    path("installed/<int:pk>/settings/", installation_pages.save_settings, name="settings"),
    path("installed/<int:pk>/secrets/", installation_pages.save_secrets, name="secrets"),
    path("installed/<int:pk>/secrets/<str:name>/remove/", installation_pages.remove_secret, name="remove-secret"),
    path("installed/<int:pk>/enable/", installation_pages.enable_installation, name="enable"),
    path("installed/<int:pk>/disable/", installation_pages.disable_installation, name="disable"),
    path("installed/<int:pk>/uninstall/", installation_pages.uninstall_installation, name="uninstall"),
    path("tenant/", views.switch_tenant, name="switch-tenant"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="marketplace/login.html",
            redirect_authenticated_user=True,
            next_page="marketplace:browse",
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="marketplace:login"), name="logout"),
]
