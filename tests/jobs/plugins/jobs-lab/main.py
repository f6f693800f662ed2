import time

from src.ext.sdk import PluginContext, job


@job("tick", schedule="* * * * *")
def tick(ctx: PluginContext):
    print("tick for", ctx.tenant_id)
    return {"ticked": True}


@job("boom", schedule="0 3 * * *")
def boom(ctx: PluginContext):
    raise RuntimeError("the job blew up on purpose")


@job("hang", schedule="0 4 * * *")
def hang(ctx: PluginContext):
    while True:
        pass


@job("hog", schedule="0 5 * * *")
def hog(ctx: PluginContext):
    chunks = []
    while True:
        chunks.append(bytearray(10 * 1024 * 1024))


@job("slow", schedule="0 6 * * *")
def slow(ctx: PluginContext):
    time.sleep(2)
    return {"slept": 2}


def remember(**kwargs):
    """A scheduler task: run_at / run_in call it with their kwargs."""
    return {"got": kwargs}
