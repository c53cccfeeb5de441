# Sessions as bench/memory/run loads them: HSET of four fields (a 24-byte
# key, 256 bytes of fields and values) and EXPIRE, in RESP, on stdout.
import sys
n=int(sys.argv[1])
M=2**64-1
out=sys.stdout.buffer
def cmd(*a):
    b=[b"*%d\r\n"%len(a)]
    for x in a:
        x=x.encode() if isinstance(x,str) else x
        b.append(b"$%d\r\n%s\r\n"%(len(x),x))
    return b"".join(b)
buf=[]
for i in range(n):
    key="session:%016x"%((i*0x9e3779b97f4a7c15)&M)
    cart='{"items":[{"sku":"A-%04d","qty":2}],"note":"%s"}'%(i%10000,"x"*132)
    buf.append(cmd("HSET",key,"user_id",str(100000+i),"csrf_token","%032x"%((i*0xbf58476d1ce4e5b9)&M),"cart",cart,"last_seen",str(1733011200+i)))
    buf.append(cmd("EXPIRE",key,"86400"))
    if len(buf)>2000:
        out.write(b"".join(buf)); buf=[]
out.write(b"".join(buf))
