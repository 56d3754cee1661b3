"""The cold-start floor on this machine, in the same run: ``bare`` (the interpreter alone) and
``floor`` (numpy + LiteRT + the model loaded with tensors allocated + Pillow: what any LiteRT
handler must import and load, nothing of ours). Same output line as the workers' ``cold`` mode."""
import time

T0 = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

t_import = time.perf_counter()
if sys.argv[1] == "floor":
    import numpy  # noqa: F401
    from ai_edge_litert.interpreter import Interpreter
    from PIL import Image  # noqa: F401

    interpreter = Interpreter(model_path=os.environ["MODEL_PATH"], num_threads=1)
    interpreter.allocate_tensors()
t_done = time.perf_counter()
print(json.dumps({"t_start": T0, "t_import": t_import, "t_imported": t_done, "t_answer": t_done, "status": 200}),
      flush=True)
