// The 20 tool calls of the benchmark loop: what a coding agent typically does in a short task
// (look around, write code, run it, read results, fix, rerun). Every leg runs exactly these.
export const steps = [
  { tool: "bash", input: { command: "uname -s && pwd" } },
  { tool: "listFiles", input: { path: ".", depth: 1 } },
  {
    tool: "writeFile",
    input: { path: "app/main.py", content: 'import sys\nprint("hello", sys.argv[1:])\n' },
  },
  { tool: "readFile", input: { path: "app/main.py" } },
  { tool: "bash", input: { command: "python3 app/main.py a b || echo no-python" } },
  { tool: "writeFile", input: { path: "app/util.py", content: "def add(a, b):\n    return a + b\n" } },
  {
    tool: "editFile",
    input: { path: "app/util.py", oldString: "return a + b", newString: "return int(a) + int(b)" },
  },
  { tool: "readFile", input: { path: "app/util.py" } },
  { tool: "bash", input: { command: "grep -rn 'def ' app" } },
  {
    tool: "writeFile",
    input: {
      path: "app/test_util.sh",
      content: '#!/bin/sh\n[ "$(echo 2+3 | bc 2>/dev/null || echo 5)" = 5 ] && echo ok\n',
    },
  },
  { tool: "bash", input: { command: "sh app/test_util.sh" } },
  { tool: "listFiles", input: { path: "app", depth: 2 } },
  { tool: "bash", input: { command: "wc -l app/*.py" } },
  { tool: "editFile", input: { path: "app/main.py", oldString: '"hello"', newString: '"hello,"' } },
  { tool: "bash", input: { command: "python3 app/main.py x || echo no-python" } },
  { tool: "readFile", input: { path: "app/main.py" } },
  { tool: "bash", input: { command: "ls -la app | head -20" } },
  { tool: "writeFile", input: { path: "app/NOTES.md", content: "# notes\n- done\n" } },
  { tool: "bash", input: { command: "cat app/NOTES.md && git --version || true" } },
  { tool: "bash", input: { command: "rm -rf app && echo cleaned" } },
];
