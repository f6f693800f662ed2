from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0003_listing_review")]

    operations = []
