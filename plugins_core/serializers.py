"""API representations of installations and the request bodies the API accepts."""
from __future__ import annotations

from rest_framework import serializers

from plugins_core.models import Installation
from plugins_core.permission_diff import pending
from plugins_core.secrets import MAX_SECRET_BYTES, SECRET_NAME_RE

__all__ = [
    "ConfigPatchSerializer",
    "InstallationConfigSerializer",
    "InstallationDetailSerializer",
    "InstallationSerializer",
    "SecretNamesSerializer",
    "SecretValueSerializer",
    "UploadResultSerializer",
    "UploadSerializer",
]


class InstallationSerializer(serializers.ModelSerializer):
    """An installed plugin. ``id`` is what ``/api/plugins/<id>/…`` takes."""

    slug = serializers.CharField(source="plugin.slug")
    name = serializers.CharField(source="plugin.name")
    version = serializers.CharField(source="version.version")
    description = serializers.SerializerMethodField()
    permissions = serializers.SerializerMethodField()
    pending_permissions = serializers.ListField(child=serializers.CharField(), read_only=True)
    pending_changes = serializers.SerializerMethodField(
        help_text="Permissions and domains the installed version asks for beyond the grant (added) or no "
        "longer asks for (removed); POST …/enable approves them."
    )
    events = serializers.SerializerMethodField()
    routes = serializers.SerializerMethodField()
    jobs = serializers.SerializerMethodField()
    secrets = serializers.SerializerMethodField(help_text="Names of the secrets set; values are never returned.")
    config_schema = serializers.JSONField(source="version.config_schema")

    class Meta:
        model = Installation
        fields = [
            "id", "slug", "name", "version", "description", "enabled", "permissions",
            "granted_permissions", "pending_permissions", "pending_changes", "approved_domains", "events",
            "routes", "jobs", "config", "config_schema", "secrets", "created_at", "updated_at",
        ]
        read_only_fields = fields

    def get_description(self, obj: Installation) -> str:
        return obj.version.manifest.get("description") or ""

    def get_permissions(self, obj: Installation) -> list[str]:
        return obj.version.permissions

    def get_pending_changes(self, obj: Installation) -> dict[str, list[str]]:
        return pending(obj).as_dict()

    def get_events(self, obj: Installation) -> list[str]:
        manifest = obj.version.manifest
        hooked = [hook["event"] for hook in manifest.get("hooks") or []]
        return sorted(set(manifest.get("events") or []) | set(hooked))

    def get_routes(self, obj: Installation) -> list[dict]:
        return obj.version.manifest.get("routes") or []

    def get_jobs(self, obj: Installation) -> list[dict]:
        return obj.version.manifest.get("jobs") or []

    def get_secrets(self, obj: Installation) -> list[str]:
        return [secret.name for secret in obj.secrets.all()]


class InstallationDetailSerializer(InstallationSerializer):
    """One installation as its detail answers it: with the marketplace listing, to its publisher."""

    listing = serializers.JSONField(read_only=True, allow_null=True, help_text=(
        "The plugin's marketplace listing (status, version, reason, submitted_at, reviewed_at, published, "
        "approved_version) when the tenant publishes the plugin; null for a plugin of another publisher, "
        "or when no marketplace runs on this server."))

    class Meta(InstallationSerializer.Meta):
        fields = [*InstallationSerializer.Meta.fields, "listing"]
        read_only_fields = fields


class ProblemSerializer(serializers.Serializer):
    field = serializers.CharField(allow_blank=True, help_text="The manifest or package path it is about.")
    code = serializers.CharField()
    message = serializers.CharField()


class UploadResultSerializer(InstallationSerializer):
    """What an upload answers: the installation, the validator's warnings, the version it replaced."""

    warnings = ProblemSerializer(many=True, read_only=True, help_text=(
        "What the validator flagged without refusing the package (an unhandled event, …)."))
    upgraded_from = serializers.CharField(read_only=True, allow_null=True, help_text=(
        "The version this upload replaced for the tenant; null for a first install."))

    class Meta(InstallationSerializer.Meta):
        fields = [*InstallationSerializer.Meta.fields, "warnings", "upgraded_from"]
        read_only_fields = fields


class SecretNamesSerializer(serializers.Serializer):
    secrets = serializers.ListField(child=serializers.CharField(), help_text="Names only: values are never returned.")


class InstallationConfigSerializer(serializers.Serializer):
    config = serializers.DictField(help_text="The installation's config: an object of keys and values.")
    config_schema = serializers.JSONField(help_text="The version's JSON Schema the config is validated against.")


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The plugin package: a .zip or a .tar.gz.")


class SecretValueSerializer(serializers.Serializer):
    value = serializers.CharField(allow_blank=False, trim_whitespace=False, write_only=True)

    def to_internal_value(self, data):
        if isinstance(data, dict) and "value" in data and not isinstance(data["value"], str):
            raise serializers.ValidationError({"value": "A secret value must be a string."})
        return super().to_internal_value(data)

    def validate_value(self, value: str) -> str:
        if len(value.encode()) > MAX_SECRET_BYTES:
            raise serializers.ValidationError(f"A secret may be at most {MAX_SECRET_BYTES} bytes.")
        return value

    @staticmethod
    def validate_name(name: str) -> str:
        if not SECRET_NAME_RE.match(name):
            raise serializers.ValidationError(
                {"name": "Use letters, digits and underscores, starting with a letter or underscore (max 100)."}
            )
        return name


class ConfigPatchSerializer(serializers.Serializer):
    """Any JSON object: keys to set; a key set to null is removed (JSON merge patch)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"config": "Send a JSON object of config keys."})
        return data
