"""A minimal Marionette client (Firefox's remote protocol), Python standard library only.

Wire format: each message is "<decimal length>:<JSON>". The server speaks first with
{"applicationType": "gecko", "marionetteProtocol": 3}; a command is [0, id, name, params] and
its answer [1, id, error, result].
"""
import json
import socket
import time


class MarionetteError(Exception):
    pass


class Marionette:
    def __init__(self, host, port, timeout=30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.next_id = 1
        hello = self._read()
        if hello.get("marionetteProtocol") != 3:
            raise MarionetteError(f"unexpected greeting {hello!r}")

    @classmethod
    def connect(cls, host, port, deadline):
        """Connects, retrying until `deadline` (time.monotonic()) while Firefox starts up."""
        last = None
        while time.monotonic() < deadline:
            try:
                return cls(host, port)
            except OSError as e:
                last = e
                time.sleep(0.2)
        raise MarionetteError(f"cannot connect to Marionette on {host}:{port}: {last}")

    def _read(self):
        while b":" not in self.buf:
            self._fill()
        length, _, rest = self.buf.partition(b":")
        n = int(length)
        self.buf = rest
        while len(self.buf) < n:
            self._fill()
        msg, self.buf = self.buf[:n], self.buf[n:]
        return json.loads(msg)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise MarionetteError("Marionette closed the connection")
        self.buf += chunk

    def send(self, name, params=None, timeout=None):
        msg_id = self.next_id
        self.next_id += 1
        data = json.dumps([0, msg_id, name, params or {}]).encode()
        self.sock.sendall(str(len(data)).encode() + b":" + data)
        old = self.sock.gettimeout()
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            while True:
                reply = self._read()
                if reply[0] == 1 and reply[1] == msg_id:
                    break
        finally:
            self.sock.settimeout(old)
        _, _, error, result = reply
        if error:
            raise MarionetteError(f"{name}: {error.get('error')}: {error.get('message')}")
        return result

    def new_session(self, capabilities=None):
        return self.send("WebDriver:NewSession", {"capabilities": capabilities or {}})

    def set_context(self, context):
        self.send("Marionette:SetContext", {"value": context})

    def execute(self, script, args=None, timeout=None):
        result = self.send("WebDriver:ExecuteScript",
                           {"script": script, "args": args or []}, timeout=timeout)
        return result.get("value") if isinstance(result, dict) else result

    def execute_async(self, script, args=None, timeout=None):
        result = self.send("WebDriver:ExecuteAsyncScript",
                           {"script": script, "args": args or []}, timeout=timeout)
        return result.get("value") if isinstance(result, dict) else result

    def navigate(self, url, timeout=None):
        self.send("WebDriver:Navigate", {"url": url}, timeout=timeout)

    def page_source(self):
        return self.send("WebDriver:GetPageSource").get("value")

    def quit(self):
        try:
            self.send("Marionette:Quit", {"flags": ["eForceQuit"]}, timeout=10)
        except (MarionetteError, OSError):
            pass

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
