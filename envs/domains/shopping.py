"""Shopping: a product catalogue, the user's cart, checkout and orders.

The world holds every product of the split's pool (random price, stock and rating), a cart with a random few of
them, and past orders with random statuses. Adding more than the stock, removing what is not in the cart,
checking out an empty cart and cancelling an order that has shipped are refused. Prices are in USD.
"""

from __future__ import annotations

import random
from typing import Any

from envs.domains.multi_step import MultiStep
from fcgym import Call, tool

NAME = "shopping"
CATEGORIES = ["electronics", "kitchen", "sports", "garden", "books", "toys"]
SORT_ORDERS = ["price", "rating"]
PAYMENT_METHODS = ["card", "paypal", "voucher"]
CANCEL_REASONS = ["duplicate", "delayed", "unwanted"]
_PRODUCTS = {  # name -> category
    "train": {"wireless mouse": "electronics", "desk lamp": "electronics", "coffee grinder": "kitchen",
              "yoga mat": "sports", "travel mug": "kitchen", "bluetooth speaker": "electronics",
              "chess set": "toys", "garden hose": "garden", "cookbook": "books", "phone charger": "electronics",
              "tennis racket": "sports", "flower pots": "garden"},
    "test": {"air fryer": "kitchen", "hiking boots": "sports", "jigsaw puzzle": "toys", "e-reader": "electronics",
             "pruning shears": "garden", "atlas": "books"},
}
_ORDERS = {"train": [f"ORD-{n}" for n in range(1001, 1011)], "test": [f"ORD-{n}" for n in range(9001, 9006)]}
_STREETS = {"train": ["12 Baker Street", "5 Elm Road", "221 Oak Avenue", "9 Mill Lane", "48 Station Road"],
            "test": ["77 Harbor Drive", "3 Cedar Court", "15 Rue Verte"]}
_TOWNS = {"train": ["Leeds", "Bristol", "Hamburg", "Lyon", "Utrecht"], "test": ["Porto", "Gdansk", "Ghent"]}


def _product(state: dict[str, Any], name: str) -> str:
    match = next((p for p in state["products"] if p.lower() == name.lower()), None)
    if match is None:
        raise ValueError(f"no product called {name!r}")
    return match


def _order(state: dict[str, Any], order_id: str) -> dict[str, Any]:
    if order_id.upper() not in state["orders"]:
        raise ValueError(f"no order {order_id}")
    return state["orders"][order_id.upper()]


def _cart_total(state: dict[str, Any]) -> float:
    return round(sum(state["products"][p]["price"] * q for p, q in state["cart"].items()), 2)


@tool("Search the catalogue by category, up to a maximum price.",
      category={"type": "string", "enum": CATEGORIES},
      max_price={"type": "number", "exclusiveMinimum": 0, "description": "Highest price in USD."},
      sort_by={"type": "string", "enum": SORT_ORDERS, "default": "price",
               "description": "price: cheapest first; rating: best first."})
def search_products(state, category, max_price, sort_by="price"):
    found = [{"product": name, "price": p["price"], "rating": p["rating"], "in_stock": p["stock"] > 0}
             for name, p in state["products"].items() if p["category"] == category and p["price"] <= max_price]
    return sorted(found, key=lambda p: p["price"] if sort_by == "price" else -p["rating"])


@tool("Put a quantity of a product into the cart.",
      product={"type": "string", "minLength": 1},
      quantity={"type": "integer", "minimum": 1, "maximum": 10, "default": 1})
def add_to_cart(state, product, quantity=1):
    name = _product(state, product)
    wanted = state["cart"].get(name, 0) + quantity
    if wanted > state["products"][name]["stock"]:
        raise ValueError(f"only {state['products'][name]['stock']} {name} in stock")
    state["cart"][name] = wanted
    return {"status": "added", "product": name, "quantity_in_cart": wanted, "cart_total_usd": _cart_total(state)}


@tool("Take a product out of the cart.", product={"type": "string", "minLength": 1})
def remove_from_cart(state, product):
    name = next((p for p in state["cart"] if p.lower() == product.lower()), None)
    if name is None:
        raise ValueError(f"{product!r} is not in the cart")
    del state["cart"][name]
    return {"status": "removed", "product": name, "cart_total_usd": _cart_total(state)}


@tool("Show the cart's items and total.")
def view_cart(state):
    items = [{"product": p, "quantity": q, "price": state["products"][p]["price"]} for p, q in state["cart"].items()]
    return {"items": items, "total_usd": _cart_total(state)}


@tool("Buy everything in the cart and ship it to an address.",
      shipping_address={"type": "object", "properties": {
          "street": {"type": "string", "minLength": 1}, "city": {"type": "string", "minLength": 1},
          "postal_code": {"type": "string", "pattern": r"^[0-9A-Za-z -]{3,10}$"}},
          "required": ["street", "city", "postal_code"], "additionalProperties": False},
      payment_method={"type": "string", "enum": PAYMENT_METHODS})
def checkout(state, shipping_address, payment_method):
    if not state["cart"]:
        raise ValueError("the cart is empty")
    for name, quantity in state["cart"].items():
        if quantity > state["products"][name]["stock"]:
            raise ValueError(f"only {state['products'][name]['stock']} {name} in stock")
        state["products"][name]["stock"] -= quantity
    order_id = f"ORD-{5001 + len(state['orders'])}"
    state["orders"][order_id] = {"status": "processing", "items": dict(state["cart"]), "total_usd": _cart_total(state),
                                 "address": dict(shipping_address), "payment_method": payment_method}
    state["cart"] = {}
    return {"status": "ordered", "order_id": order_id, "total_usd": state["orders"][order_id]["total_usd"]}


@tool("Get the status of an order.",
      order_id={"type": "string", "pattern": r"^[A-Za-z]{3}-\d+$", "description": "E.g. ORD-1001."})
def get_order_status(state, order_id):
    order = _order(state, order_id)
    return {"order_id": order_id.upper(), "status": order["status"], "total_usd": order["total_usd"]}


@tool("Cancel an order that has not shipped yet.",
      order_id={"type": "string", "pattern": r"^[A-Za-z]{3}-\d+$", "description": "E.g. ORD-1001."},
      reason={"type": "string", "enum": CANCEL_REASONS})
def cancel_order(state, order_id, reason):
    order = _order(state, order_id)
    if order["status"] != "processing":
        raise ValueError(f"order {order_id} is {order['status']} and can no longer be cancelled")
    order.update(status="cancelled", cancel_reason=reason)
    return {"status": "cancelled", "order_id": order_id.upper(), "refund_usd": order["total_usd"]}


TOOLS = (search_products, add_to_cart, remove_from_cart, view_cart, checkout, get_order_status, cancel_order)

TEMPLATES: dict[str, list[str]] = {
    "search_products": [
        "Show {category} products under ${max_price}, sorted by {sort_by}.",
        "Find {category} items costing at most {max_price} dollars, order by {sort_by}.",
        "Any {category} for {max_price} USD or less? Sort them by {sort_by}.",
    ],
    "add_to_cart": [
        "Add {quantity} {product} to my cart.",
        "Put {quantity} x {product} in the basket.",
        "I'd like {quantity} of the {product}, add them to my cart.",
    ],
    "remove_from_cart": [
        "Remove the {product} from my cart.",
        "Take {product} out of my basket.",
        "I don't want the {product} anymore, drop it from the cart.",
    ],
    "view_cart": [
        "What's in my cart?",
        "Show me my basket.",
        "How much is my cart so far?",
    ],
    "checkout": [
        "Check out, pay by {payment_method}, ship to {shipping_address[street]}, {shipping_address[postal_code]} "
        "{shipping_address[city]}.",
        "Place the order with {payment_method}; deliver to {shipping_address[street]}, {shipping_address[city]} "
        "{shipping_address[postal_code]}.",
    ],
    "get_order_status": [
        "Where is my order {order_id}?",
        "What's the status of order {order_id}?",
        "Has {order_id} shipped yet?",
    ],
    "cancel_order": [
        "Cancel order {order_id}, reason: {reason}.",
        "Please cancel {order_id} ({reason}).",
        "I want to cancel order {order_id} because it's {reason}.",
    ],
}

IRRELEVANT_QUERIES = [
    "What's the weather like in Lisbon tomorrow?",
    "Tell me a joke about penguins.",
    "How far is the Moon from the Earth?",
    "Teach me a simple magic trick.",
    "What is the boiling point of water at sea level?",
    "Summarise the rules of chess.",
]


def initial_state(rng: random.Random, split: str = "train") -> dict[str, Any]:
    products = {name: {"category": category, "price": round(rng.uniform(5, 300), 2),
                       "stock": rng.choice([0, 2, 5, 10, 25]), "rating": round(rng.uniform(2.5, 5.0), 1)}
                for name, category in _PRODUCTS[split].items()}
    cart = {name: 1 for name in rng.sample(sorted(products), len(products) // 2) if products[name]["stock"] > 0}
    orders = {order_id: {"status": rng.choice(["processing"] * 3 + ["shipped", "delivered", "cancelled"]),
                         "items": {rng.choice(sorted(products)): rng.randint(1, 3)},
                         "total_usd": round(rng.uniform(10, 400), 2)} for order_id in _ORDERS[split]}
    return {"products": products, "cart": cart, "orders": orders}


def sample_arguments(tool_name: str, rng: random.Random, split: str) -> dict[str, Any]:
    """Random arguments for ``tool_name``; string values come from the ``split``'s own pool."""
    if tool_name == "search_products":
        return {"category": rng.choice(CATEGORIES), "max_price": rng.choice([20, 50, 75, 100, 150, 250, 39.99]),
                "sort_by": rng.choice(SORT_ORDERS)}
    if tool_name == "add_to_cart":
        return {"product": rng.choice(sorted(_PRODUCTS[split])), "quantity": rng.randint(1, 4)}
    if tool_name == "remove_from_cart":
        return {"product": rng.choice(sorted(_PRODUCTS[split]))}
    if tool_name == "view_cart":
        return {}
    if tool_name == "checkout":
        low, high = (10000, 49999) if split == "train" else (60000, 99999)  # postal codes: disjoint ranges
        return {"shipping_address": {"street": rng.choice(_STREETS[split]), "city": rng.choice(_TOWNS[split]),
                                     "postal_code": str(rng.randint(low, high))},
                "payment_method": rng.choice(PAYMENT_METHODS)}
    if tool_name == "get_order_status":
        return {"order_id": rng.choice(_ORDERS[split])}
    if tool_name == "cancel_order":
        return {"order_id": rng.choice(_ORDERS[split]), "reason": rng.choice(CANCEL_REASONS)}
    raise KeyError(tool_name)


def _add_the_top_product(rng: random.Random, state: dict[str, Any], split: str) -> MultiStep:
    category, max_price, quantity = rng.choice(CATEGORIES), rng.choice([50, 80, 120, 150, 200, 300]), rng.randint(1, 3)
    sort_by = rng.choice(SORT_ORDERS)
    amount = "" if quantity == 1 else f"{quantity} units of "
    item = f"cheapest {category} item" if sort_by == "price" else f"{category} item with the best rating"
    query = rng.choice([f"Add {amount}the {item} under ${max_price} to my cart.",
                        f"Search {category} up to ${max_price} by {sort_by} and put {amount}the top one in my cart."])

    def top(found: list[dict[str, Any]]) -> Call:
        key = "price" if sort_by == "price" else "rating"
        if not found or (len(found) > 1 and found[0][key] == found[1][key]):
            raise LookupError(f"no single top {category} product by {sort_by}")
        return Call("add_to_cart", {"product": found[0]["product"], **({"quantity": quantity} if quantity > 1 else {})})

    search = {"category": category, "max_price": max_price, **({"sort_by": sort_by} if sort_by != "price" else {})}
    return MultiStep(query, Call("search_products", search), top, derived=("product",))


#: Requests whose second call needs the first call's result (see `envs.domains.multi_step`).
MULTI_STEP = [_add_the_top_product]
