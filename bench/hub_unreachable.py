"""How long `hf:NAME@random` takes to fail when no hub can serve it: HF_HUB_OFFLINE set, or HF_ENDPOINT unreachable.
Run: python bench/hub_unreachable.py   (PYTHONPATH=/other/checkout to time another version). Prints JSON: seconds
from the call to its error, import excluded. Never touches the network: the endpoint is 127.0.0.1:9, where nothing
listens, and the cache ($HF_HOME) is an empty temporary folder."""
import json, os, subprocess, sys, tempfile, time

def one():
    from layeralign.towers import HFTextTower          # imported first: only the failing call is timed
    t = time.perf_counter()
    try: HFTextTower('hf:layeralign-bench/no-such-model@random')
    except ValueError: pass
    print(round(time.perf_counter() - t, 2))

if __name__ == '__main__':
    if sys.argv[1:] == ['one']: one(); sys.exit()
    cases = {'HF_HUB_OFFLINE=1': {'HF_HUB_OFFLINE': '1'}, 'HF_ENDPOINT=http://127.0.0.1:9': {'HF_ENDPOINT': 'http://127.0.0.1:9'}}
    out = {}
    for name, env in cases.items():    # the variables set before the hub client is imported, as a user sets them
        env = {k: v for k, v in os.environ.items() if k not in ('HF_HUB_OFFLINE', 'HF_ENDPOINT')} | env | {'HF_HOME': tempfile.mkdtemp()}
        out[name] = float(subprocess.run([sys.executable, __file__, 'one'], env=env, capture_output=True, text=True).stdout.split()[-1])
    print(json.dumps(out))
