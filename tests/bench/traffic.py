"""`make loadtest`'s visitors: browsers behind "nginx", customers, pay pages left open, the owner, a worker killed.

Everything talks to 127.0.0.1. A browser sends what nginx in front of the shop would add (X-Forwarded-For with
the customer's own address, X-Forwarded-Proto: https) and what a browser sends (a Referer, its cookies), so the
shop serves it exactly as in production. Every answer of the shop is counted; every message a customer or the
owner is shown is recorded with its order, to be held against the order's final state (tests/bench/invariants.py).
"""
import http.cookiejar
import random
import re
import threading
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urlsplit

import requests
from requests.cookies import extract_cookies_to_jar

from tests.helpers import DELIVERY_FORM

COMPUTER_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 "
               "Safari/537.36")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
TOKEN_RE = re.compile(r"/(?:pay|orders)/([A-Za-z0-9_-]{16,32})")
ORDER_NUMBER_RE = re.compile(r"订单号\s*(?:<[^>]+>\s*)?([A-Za-z0-9_-]{6,32})")
FLASH_RE = re.compile(r'<p class="flash flash-(\w+)">(.*?)</p>', re.S)
H1_RE = re.compile(r"<h1[^>]*>(.*?)</h1>", re.S)
STATUS_RE = re.compile(r'<strong class="status status-(\w+)">(.*?)</strong>')
FIELD_ERRORS_RE = re.compile(r'<ul class="field-errors"[^>]*>(.*?)</ul>', re.S)
ADMIN_ORDER_RE = re.compile(r'href="/admin/orders/(\d+)"')
# What a browser meets when the connection breaks (a web worker killed while answering it).
DROPPED = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class LoopbackCookies(http.cookiejar.DefaultCookiePolicy):
    """Send Secure cookies back to loopback over plain http, as browsers do for localhost (a "potentially
    trustworthy" origin). The load client stands where nginx ends TLS in production; staging's cookies stay
    Secure, and nothing is relaxed for any other host."""

    def return_ok_secure(self, cookie, request):
        return urlsplit(request.get_full_url()).hostname in LOOPBACK or super().return_ok_secure(cookie, request)


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """requests copies a session's cookies into a jar of its own policy for each request and each redirect,
    which would drop the Secure ones on http: the browser keeps its cookies itself (Browser.jar)."""

    def set_ok(self, cookie, request):
        return False


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", html))).strip()


class _Forms(HTMLParser):
    """The forms of a page: action, method and the fields a browser would send (checked boxes, selected options)."""

    def __init__(self):
        super().__init__()
        self.forms, self._form, self._select = [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = {"action": attrs.get("action", ""), "method": attrs.get("method", "get").lower(),
                          "fields": {}}
            self.forms.append(self._form)
        elif self._form is None or not attrs.get("name"):
            return
        elif tag == "input":
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            if kind not in ("submit", "button", "image", "file"):
                self._form["fields"][attrs["name"]] = attrs.get("value") or ("y" if kind == "checkbox" else "")
        elif tag == "select":
            self._select = attrs["name"]
            self._form["fields"].setdefault(self._select, "")
        elif tag == "option" and self._select and "selected" in attrs:
            self._form["fields"][self._select] = attrs.get("value", "")
        elif tag == "textarea":
            self._form["fields"][attrs["name"]] = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


@dataclass
class Page:
    """A page the shop answered (after redirects): where it ended, its status, and what it says."""

    url: str
    status: int
    html: str

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def title(self) -> str:
        match = H1_RE.search(self.html)
        return text_of(match.group(1)) if match else ""

    @property
    def flashes(self) -> list[str]:
        return [text_of(message) for _, message in FLASH_RE.findall(self.html)]

    @property
    def errors(self) -> list[str]:
        return [text_of(message) for message in FIELD_ERRORS_RE.findall(self.html)]

    @property
    def order_number(self) -> str | None:
        match = ORDER_NUMBER_RE.search(self.html)
        return match.group(1) if match else None

    @property
    def status_label(self) -> str | None:
        match = STATUS_RE.search(self.html)
        return text_of(match.group(2)) if match else None

    def form(self, action: str) -> dict | None:
        """The fields of the first form posting to ``action`` (a path), or None."""
        parser = _Forms()
        parser.feed(self.html)
        return next((dict(form["fields"]) for form in parser.forms if form["action"].split("?")[0] == action), None)


@dataclass
class Message:
    """What someone was shown about an order, and when (time.monotonic())."""

    token: str
    who: str  # customer / owner
    where: str  # status poll, pay page, cancel, success page, refund, ...
    text: str
    at: float
    refund: dict | None = None  # the owner's refund messages: what was asked


@dataclass
class Tracked:
    """An order as the load test knows it: its token, number, what its customer set out to do."""

    token: str
    number: str
    fate: str  # pay / cancel / expire
    placed_at: float
    deadline: float  # time.monotonic() when its pay window ends
    paid_on_sandbox: bool = False
    refunds: int = 0


@dataclass
class Traffic:
    """What the visitors did and saw: every answer of the shop, every message, every order."""

    shop: str
    sandbox: str
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: dict = field(default_factory=lambda: defaultdict(int))
    latencies: dict = field(default_factory=lambda: defaultdict(list))
    server_errors: list = field(default_factory=list)  # (at, method, label, status)
    connection_errors: list = field(default_factory=list)  # (at, method, label, error)
    messages: list[Message] = field(default_factory=list)
    orders: dict[str, Tracked] = field(default_factory=dict)
    outcomes: dict = field(default_factory=lambda: defaultdict(int))  # what the visitors did, counted
    open_pages: set = field(default_factory=set)  # tokens whose pay page is open (polled)
    paid: list = field(default_factory=list)  # tokens the customer saw paid, for the owner to refund
    kill: dict = field(default_factory=dict)

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.outcomes[what] += n

    def record(self, method: str, label: str, response) -> None:
        with self.lock:
            self.statuses[response.status_code] += 1
            self.latencies[label].append(response.elapsed.total_seconds())
            if response.status_code >= 500:
                self.server_errors.append((time.monotonic(), method, label, response.status_code))

    def failed(self, method: str, label: str, error: Exception) -> None:
        with self.lock:
            self.connection_errors.append((time.monotonic(), method, label, type(error).__name__))

    def say(self, token: str, who: str, where: str, text: str, refund: dict | None = None) -> None:
        with self.lock:
            self.messages.append(Message(token, who, where, text, time.monotonic(), refund))

    def track(self, order: Tracked) -> None:
        with self.lock:
            self.orders[order.token] = order
            self.open_pages.add(order.token)

    def close_page(self, token: str) -> None:
        with self.lock:
            self.open_pages.discard(token)


def label_of(path: str) -> str:
    """The route a path belongs to, for figures (tokens and ids left out)."""
    if path.endswith("/status"):
        return "status poll"
    for prefix, label in (("/pay/notify", "notify"), ("/pay/", "pay pages"), ("/orders/", "order page"),
                          ("/checkout", "checkout"), ("/cart", "cart"), ("/p/", "product page"),
                          ("/admin", "owner pages"), ("/c/", "category page")):
        if path.startswith(prefix):
            return label
    return "home" if path == "/" else "other"


class Browser:
    """One visitor's browser, as the shop sees it through nginx."""

    def __init__(self, traffic: Traffic, ip: str | None = None, timeout: float = 30):
        self.traffic = traffic
        self.ip = ip or f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.cookies.set_policy(_NoCookies())
        self.jar = http.cookiejar.CookieJar(LoopbackCookies())
        self.http.headers.update({"User-Agent": COMPUTER_UA, "Accept-Language": "zh-CN,zh;q=0.9",
                                  "X-Forwarded-For": self.ip, "X-Forwarded-Proto": "https"})
        self.timeout = timeout
        self.at = None  # the page the browser shows (the Referer of its next form)

    def _send(self, method: str, path: str, data=None, retry: bool = True):
        """Send a request and follow its redirects as a browser does; the last answer (each hop recorded)."""
        label = label_of(path)
        try:
            response = self._follow(method, path, data)
        except DROPPED as error:
            self.traffic.failed(method, label, error)
            if not retry:
                raise
            time.sleep(0.3)  # the customer reloads (or sends the form again: the shop makes it one order)
            return self._send(method, path, data, retry=False)
        return response

    def _follow(self, method: str, path: str, data=None, hops: int = 10):
        for _ in range(hops):
            url = self.traffic.shop + path
            headers = {}
            if self.at:  # as https, since that is the scheme the shop was told (Flask-WTF checks it on POSTs)
                headers["Referer"] = "https://" + urlsplit(self.traffic.shop).netloc + urlsplit(self.at).path
            cookies = urllib.request.Request(url)
            self.jar.add_cookie_header(cookies)
            if cookies.has_header("Cookie"):
                headers["Cookie"] = cookies.get_header("Cookie")
            response = self.http.request(method, url, data=data, headers=headers, timeout=self.timeout,
                                         allow_redirects=False)
            extract_cookies_to_jar(self.jar, response.request, response.raw)
            self.traffic.record(method, label_of(path), response)
            if not response.is_redirect:
                return response
            location = urlsplit(response.headers["Location"])
            path = location.path + (f"?{location.query}" if location.query else "")
            if response.status_code in (301, 302, 303):
                method, data = "GET", None
        raise RuntimeError(f"more than {hops} redirects from {path}")

    def get(self, path: str) -> Page:
        response = self._send("GET", path)
        self.at = response.url
        return Page(response.url, response.status_code, response.text)

    def post(self, path: str, data: dict) -> Page:
        response = self._send("POST", path, data)
        self.at = response.url
        return Page(response.url, response.status_code, response.text)

    def status(self, token: str) -> str | None:
        """The pay page's poll: the status it answers, or None when the poll failed (it tries again)."""
        try:
            response = self._send("GET", f"/pay/{token}/status", retry=False)
        except DROPPED:
            return None
        if response.status_code != 200:
            return None
        return response.json()["status"]


@dataclass
class Product:
    id: int
    slug: str
    stock: int


def sandbox_pay(traffic: Traffic, number: str) -> int:
    """The customer scans the QR code and pays on the sandbox's phone; its answer's status."""
    with requests.Session() as http:
        http.trust_env = False
        return http.post(f"{traffic.sandbox}/sandbox/api/orders/{number}/pay", json={}, timeout=10).status_code


def think(low: float, high: float, stop: threading.Event) -> None:
    stop.wait(random.uniform(low, high))


class Customers:
    """A stream of customers: browse, add to the cart, check out, then pay, cancel or let the order expire."""

    # Dealt from shuffled decks of five (3 pay, 1 cancel, 1 expire): the shares hold in a short run too, so
    # that every five orders bring each fate at least once.
    DECK = ("pay", "pay", "pay", "cancel", "expire")

    def __init__(self, traffic: Traffic, products: list[Product], pay_window: float, stop: threading.Event,
                 revisits: "Revisits"):
        self.traffic, self.products, self.pay_window = traffic, products, pay_window
        self.stop, self.revisits = stop, revisits
        self.deck, self.deck_lock = [], threading.Lock()

    def deal(self) -> str:
        with self.deck_lock:
            if not self.deck:
                self.deck = random.sample(self.DECK, k=len(self.DECK))
            return self.deck.pop()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.one_customer()
            except Exception as error:  # a bug in the load client must not hide the shop's answers
                self.traffic.count(f"client error: {type(error).__name__}: {error}"[:160])
                time.sleep(0.5)

    def one_customer(self) -> None:
        browser = Browser(self.traffic)
        browser.get("/")
        wanted = random.sample(self.products, k=random.choice((1, 1, 2)))
        if random.random() < 0.3 and self.products[0] not in wanted:  # the flash-sale item, with few units
            wanted[0] = self.products[0]
        added = 0
        for product in wanted:
            page = browser.get(f"/p/{product.slug}")
            form = page.form("/cart/add")
            if form is None:  # sold out: no form to add it
                self.traffic.count("saw a product sold out")
                continue
            form["quantity"] = str(random.choice((1, 1, 1, 2)))
            answer = browser.post("/cart/add", form)
            if answer.status == 200 and answer.path == "/cart":
                added += 1
            else:
                self.traffic.count("cart refused a quantity (stock)")
        if not added:
            return
        page = browser.get("/checkout")
        form = page.form("/checkout")
        if form is None:
            self.traffic.count("checkout sent back to the cart (stock)")
            return
        think(0.2, 0.8, self.stop)
        mobile = "1" + random.choice("3456789") + f"{random.randrange(10**9):09d}"
        form.update({**DELIVERY_FORM, "contact_name": random.choice(("张三", "李四", "王五", "赵敏")),
                     "mobile": mobile, "remember": "y"})
        page = browser.post("/checkout", form)
        token = self.placed_token(page)
        if token is None:
            self.traffic.count(f"checkout refused ({page.status})")
            return
        page = self.pay_page(browser, token, page)
        number = page.order_number if page else None
        if number is None:
            self.traffic.count("no pay page (WeChat Pay kept failing)")
            return
        fate = self.deal()
        order = Tracked(token, number, fate, time.monotonic(), time.monotonic() + self.pay_window)
        self.traffic.track(order)
        self.traffic.count("orders placed")
        getattr(self, fate)(browser, order, page)

    @staticmethod
    def placed_token(page: Page) -> str | None:
        match = TOKEN_RE.search(page.path)
        return match.group(1) if match and page.status == 200 else None

    def pay_page(self, browser: Browser, token: str, page: Page) -> Page | None:
        """The pay page, pressing 重试支付 while WeChat Pay fails (its 500s, 429s and timeouts)."""
        for _ in range(4):
            self.traffic.say(token, "customer", "pay page", page.title)
            if page.title == "暂时无法发起微信支付":
                self.traffic.count("retry page shown")
                think(0.3, 1.0, self.stop)
                form = page.form(f"/pay/{token}/retry")
                page = browser.post(f"/pay/{token}/retry", form)
                continue
            return page if page.order_number and page.path == f"/pay/{token}" else None
        return None

    def wait_for(self, browser: Browser, order: Tracked, answers: set, seconds: float) -> str | None:
        """Poll as the open pay page does (every 2 s) until one of ``answers`` or time is up; the last answer."""
        deadline, answer = time.monotonic() + seconds, None
        while time.monotonic() < deadline:
            answer = browser.status(order.token)
            if answer is not None:
                self.traffic.say(order.token, "customer", "status poll", answer)
            if answer in answers:
                return answer
            time.sleep(2)
        return answer

    def pay(self, browser: Browser, order: Tracked, page: Page) -> None:
        self.wait_for(browser, order, {"paid", "shipped", "closed", "expired"}, random.uniform(0.5, 4))
        status = sandbox_pay(self.traffic, order.number)
        order.paid_on_sandbox = status == 200
        self.traffic.count("paid on the phone" if status == 200 else f"phone refused to pay ({status})")
        answer = self.wait_for(browser, order, {"paid", "shipped", "closed", "expired"}, self.pay_window + 10)
        if answer in ("paid", "shipped"):
            page = browser.get(f"/pay/{order.token}/success")
            self.traffic.say(order.token, "customer", "success page", page.title)
            with self.traffic.lock:
                self.traffic.paid.append(order.token)
        self.traffic.close_page(order.token)

    def cancel(self, browser: Browser, order: Tracked, page: Page) -> None:
        self.wait_for(browser, order, {"paid", "shipped", "closed", "expired"}, random.uniform(0.5, 4))
        path = f"/pay/{order.token}/cancel"
        confirm = browser.post(path, page.form(path))
        self.traffic.say(order.token, "customer", "cancel confirm", confirm.title)
        form = confirm.form(path)
        if form is None:  # no longer pending: the shop answered at once
            result = confirm
        else:
            result = browser.post(path, form)
        for message in result.flashes:
            self.traffic.say(order.token, "customer", "cancel", message)
        self.traffic.say(order.token, "customer", "after cancel", result.title)
        if result.status_label:
            self.traffic.say(order.token, "customer", "order page", result.status_label)
        self.traffic.count("cancelled")
        self.traffic.close_page(order.token)

    def expire(self, browser: Browser, order: Tracked, page: Page) -> None:
        """Leave the pay page open (the pollers keep polling it); come back after the deadline."""
        self.traffic.count("left to expire")
        self.revisits.add(order.deadline + random.uniform(0.5, 3), browser, order)


class Revisits:
    """Customers who come back to their pay page after its deadline: what does it say then?"""

    def __init__(self, traffic: Traffic):
        self.traffic = traffic
        self.due: list[tuple[float, Browser, Tracked]] = []
        self.lock = threading.Lock()
        self.idle = threading.Event()

    def add(self, at: float, browser: Browser, order: Tracked) -> None:
        with self.lock:
            self.due.append((at, browser, order))

    def pending(self) -> int:
        with self.lock:
            return len(self.due)

    def run(self, stop_when_empty: threading.Event) -> None:
        while True:
            now = time.monotonic()
            with self.lock:
                ready = [entry for entry in self.due if entry[0] <= now]
                self.due = [entry for entry in self.due if entry[0] > now]
                empty = not self.due
            for _, browser, order in ready:
                page = browser.get(f"/pay/{order.token}")
                self.traffic.say(order.token, "customer", "pay page after the deadline", page.title)
                self.traffic.close_page(order.token)
            if empty and not ready and stop_when_empty.is_set():
                return
            time.sleep(0.2)


class Pollers:
    """Pay pages left open: each polls an open order's status every ~2 s, as pay.js does, until it is final."""

    FINAL = {"paid", "shipped", "closed", "expired"}

    def __init__(self, traffic: Traffic, stop: threading.Event):
        self.traffic, self.stop = traffic, stop

    def run(self) -> None:
        browser = Browser(self.traffic, timeout=15)
        token = None
        self.stop.wait(random.uniform(0, 2))  # not all in step
        while not self.stop.is_set():
            with self.traffic.lock:
                pages = list(self.traffic.open_pages)
            if token is None or token not in pages:
                token = random.choice(pages) if pages else None
            if token is not None:
                answer = browser.status(token)
                if answer is not None:
                    self.traffic.say(token, "customer", "status poll", answer)
                if answer in self.FINAL:
                    self.traffic.close_page(token)
                    token = None
            self.stop.wait(random.uniform(1.8, 2.2))


class Owner:
    """The owner, logged in, refunding some paid orders (in full or in part) through the order page's form."""

    def __init__(self, traffic: Traffic, username: str, password: str, stop: threading.Event, share: float):
        self.traffic, self.stop, self.share = traffic, stop, share
        self.browser = Browser(traffic, ip="10.0.0.2")
        self.username, self.password = username, password
        self.seen = 0

    def login(self) -> None:
        page = self.browser.get("/admin/login")
        form = page.form("/admin/login")
        form.update(username=self.username, password=self.password)
        page = self.browser.post("/admin/login", form)
        if not page.path.startswith("/admin/orders"):
            raise RuntimeError(f"the owner could not log in: {page.status} {page.title} {page.errors}")

    def restock(self, product_id: int, units: int) -> None:
        """补货 on the product page, before the sale."""
        page = self.browser.get(f"/admin/products/{product_id}")
        path = f"/admin/products/{product_id}/stock"
        form = page.form(path)
        form.update(reason="restock", quantity=str(units), note="压测前补货")
        answer = self.browser.post(path, form)
        if answer.status != 200 or answer.errors:
            raise RuntimeError(f"restocking product {product_id} failed: {answer.status} {answer.errors}")

    def run(self) -> None:
        """Refund as paid orders come in, until ``stop`` (after the customers are done), those seen by then too."""
        while True:
            finished = self.stop.wait(random.uniform(0.8, 1.6))
            with self.traffic.lock:
                fresh = self.traffic.paid[self.seen:]
                self.seen = len(self.traffic.paid)
            for token in fresh:
                # The first paid order always (a short run refunds too), then a share of them.
                if not self.traffic.outcomes.get("refunds asked") or random.random() < self.share:
                    try:
                        self.refund(self.traffic.orders[token])
                    except Exception as error:
                        self.traffic.count(f"client error (owner): {type(error).__name__}: {error}"[:160])
            if finished:
                return

    def refund(self, order: Tracked) -> None:
        listing = self.browser.get(f"/admin/orders?q={order.number}")
        match = ADMIN_ORDER_RE.search(listing.html)
        if match is None:
            raise RuntimeError(f"order {order.number} not in the owner's list")
        path = f"/admin/orders/{match.group(1)}"
        for _ in range(random.choice((1, 1, 2))):  # now and then a second, partial refund of the same order
            page = self.browser.get(path)
            form = page.form(path + "/refund")
            if form is None:
                return  # nothing left to refund
            refundable = int(form["refundable_fen"])
            amount = refundable if random.random() < 0.4 else random.randint(1, max(1, refundable - 1))
            form.update(amount=f"{amount // 100}.{amount % 100:02d}", reason="压测退款")
            confirm = self.browser.post(path + "/refund", form)
            asked = {"amount_fen": amount, "number": order.number}
            form = confirm.form(path + "/refund")
            if form is None or form.get("confirmed") != "1":
                self.traffic.say(order.token, "owner", "refund form", "; ".join(confirm.errors) or confirm.title,
                                 asked)
                return
            done = self.browser.post(path + "/refund", form)
            for message in done.flashes:
                self.traffic.say(order.token, "owner", "refund", message, asked)
            if done.errors:
                self.traffic.say(order.token, "owner", "refund form", "; ".join(done.errors), asked)
            order.refunds += 1
            self.traffic.count("refunds asked")


def kill_mid_run(traffic: Traffic, master_pid: int, at: float, stop: threading.Event, kill) -> None:
    """SIGKILL one gunicorn worker at ``at`` (time.monotonic()); gunicorn starts another."""
    if stop.wait(max(0.0, at - time.monotonic())):
        return
    began = time.monotonic()
    victim, replaced_in = kill(master_pid)
    traffic.kill.update(pid=victim, at=began, replaced_in=replaced_in)

