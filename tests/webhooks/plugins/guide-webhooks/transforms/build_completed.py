def transform(event_data):
    """Transform event data for webhook delivery"""
    return {
        "event_type": "build.completed",
        "build_id": event_data.get("build_id"),
        "status": event_data.get("status"),
        "project": event_data.get("project_name"),
        "timestamp": event_data.get("created_at")
    }
