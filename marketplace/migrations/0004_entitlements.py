import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0003_listing_review"),
        ("tenants", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="listing",
            name="trial_days",
            field=models.PositiveSmallIntegerField(
                default=14,
                help_text="Days a tenant may use a paid listing before paying (0: no trial). The entitlement class "
                "(PLUGYARD_ENTITLEMENTS) decides what a trial means.",
                validators=[django.core.validators.MaxValueValidator(365)],
            ),
        ),
        migrations.CreateModel(
            name="Entitlement",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("trial", "Trial"), ("purchase", "Purchase"), ("subscription", "Subscription")], max_length=16)),
                ("status", models.CharField(choices=[("active", "Active"), ("ended", "Ended"), ("refused", "Refused")], default="active", max_length=16)),
                ("trial_ends_at", models.DateTimeField(blank=True, null=True)),
                ("reason", models.CharField(blank=True, help_text="Why it was refused or ended, in words a tenant reads.", max_length=300)),
                ("reference", models.CharField(blank=True, help_text="The host product's own id for it (an order, a subscription).", max_length=200)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("listing", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="entitlements", to="marketplace.listing")),
                ("started_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to=settings.AUTH_USER_MODEL)),
                ("tenant", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenants.tenant")),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
                "constraints": [models.UniqueConstraint(fields=("tenant", "listing"), name="entitlement_once_per_tenant")],
            },
        ),
    ]
