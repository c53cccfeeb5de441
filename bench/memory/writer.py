# Keeps changing the sessions bench/memory/import loads into redis-server
# (touches, EXPIREs, deletes, new sessions) until SIGTERM; prints its count.
import random, signal, sys, time
import redis
r = redis.Redis(port=int(sys.argv[1]))
n = int(sys.argv[2])
M = 2**64-1
ops = 0
stop = False
def handler(*a):
    global stop
    stop = True
signal.signal(signal.SIGTERM, handler)
while not stop:
    p = r.pipeline(transaction=False)
    for _ in range(50):
        i = random.randrange(n)
        key = "session:%016x" % ((i*0x9e3779b97f4a7c15) & M)
        c = random.random()
        if c < 0.6:
            p.hset(key, "last_seen", str(int(time.time())))
        elif c < 0.8:
            p.expire(key, 3600)
        elif c < 0.9:
            p.delete(key)
        else:
            p.hset("session:new:%d" % random.randrange(10**6), mapping={"user_id": str(i), "cart": "{}"})
        ops += 1
    p.execute()
print("writer ops", ops, file=sys.stderr)
