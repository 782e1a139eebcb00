#!/usr/bin/env python3
"""Aggregates malloc_count.c's sampled backtraces by allocation site.

    sites.py TRACE BINARY [TOP]

Frames in BINARY (printed as offsets, its symbols are not exported) are resolved with one addr2line call and
demangled with `swift demangle --simplified`. Prints, by sample count, the innermost frame in BINARY
(the Swift code the allocation comes from: runtime and library frames below it are folded into it) and its caller.
"""
import collections, re, subprocess, sys

trace, binary = sys.argv[1], sys.argv[2]
top = int(sys.argv[3]) if len(sys.argv) > 3 else 40
frame_re = re.compile(r'^(.*?)\((.*?)\)\[(0x[0-9a-f]+)\]$')
stacks, stack = [], []
for line in open(trace, errors='replace'):
    line = line.rstrip('\n')
    if line == '--':
        stacks.append(stack); stack = []
        continue
    m = frame_re.match(line)
    if m: stack.append((m.group(1), m.group(2)))
offsets = sorted({s for st in stacks for (b, s) in st if b == binary and s.startswith('+0x')})
names = {}
if offsets:
    out = subprocess.run(['addr2line', '-f', '-e', binary] + [o[1:] for o in offsets], capture_output=True, text=True).stdout.split('\n')
    mangled = out[0::2][:len(offsets)]
    dem = subprocess.run(['swift', 'demangle', '--simplified'], input='\n'.join(mangled) + '\n', capture_output=True, text=True).stdout.split('\n')
    names = dict(zip(offsets, dem))
def name(frame):
    b, s = frame
    if b == binary and s in names: return names[s]
    return b.rsplit('/', 1)[-1] + ':' + (s.split('+')[0] or s)
by_site = collections.Counter()
for st in stacks:
    ours = [name(f) for f in st if f[0] == binary]
    by_site[(ours[0] if ours else name(st[0]) if st else '?', ours[1] if len(ours) > 1 else '')] += 1
total = sum(by_site.values())
print(f'{total} samples')
for (site, caller), n in by_site.most_common(top):
    print(f'{n:6d} {100*n/total:5.1f}%  {site[:120]}\n                 <- {caller[:120]}')
