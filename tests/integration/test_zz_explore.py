import json
from test_ai_deployment import *
def test_x(play, sim):
    run = play([
        model_task("model"),
        small("create", replicas=2),
        small("recreate", gpu_count=2, recreate=True),
        dep_task("delete", name="small", state="absent"),
        dep_task("delete again", name="small", state="absent"),
    ])
    print(json.dumps(run.records[-2:], indent=1))
    assert 0
