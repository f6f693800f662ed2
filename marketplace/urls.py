"""The marketplace pages and the session sign-in they use (mounted at the site root)."""
from django.contrib.auth import views as auth_views
from django.urls import path

from marketplace import views

app_name = "marketplace"
urlpatterns = [
    path("", views.browse, name="browse"),
    path("plugins/<slug:slug>/", views.detail, name="detail"),
    path("plugins/<slug:slug>/install/", views.install, name="install"),
    path("installed/", views.installed, name="installed"),
    path("installed/<int:pk>/enable/", views.enable_installation, name="enable"),
    path("installed/<int:pk>/disable/", views.disable_installation, name="disable"),
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
