"""The Jaffle Shop's slow-changing reference data: stores, menu and the supplies behind it.

Prices and costs are in cents. The menu follows the shape of dbt Labs' jafgen catalog
(jaffles and beverages with a SKU, a price and a description; supplies per SKU).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Store:
    name: str
    opened_day: int  # the day it opened, counted from the history's first day
    tax_rate: float
    popularity: float  # relative share of orders once open


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    type: str  # "jaffle" or "beverage"
    price: int
    description: str


@dataclass(frozen=True)
class Supply:
    id: str
    name: str
    cost: int
    perishable: bool
    sku: str


# Openings count from the history's first day, like every date of the data set, so a data set
# is the same whatever day it starts on: five stores are years old, Los Angeles opens 44 days in.
STORES = (
    Store("Philadelphia", -2922, 0.06, 1.0),
    Store("Brooklyn", -2730, 0.04, 0.9),
    Store("Chicago", -2317, 0.0625, 0.8),
    Store("San Francisco", -2307, 0.075, 0.85),
    Store("New Orleans", -2002, 0.04, 0.5),
    Store("Los Angeles", 44, 0.08, 0.7),
)

PRODUCTS = (
    Product(
        "JAF-001",
        "nutellaphone who dis?",
        "jaffle",
        1100,
        "nutella and banana jaffle, toasted golden",
    ),
    Product("JAF-002", "doctor stew", "jaffle", 1100, "house-made beef stew jaffle"),
    Product("JAF-003", "the krautback", "jaffle", 1200, "lamb and pork bratwurst with sauerkraut"),
    Product("JAF-004", "flame impala", "jaffle", 1400, "pulled pork and pineapple with chili"),
    Product("JAF-005", "mel-bun", "jaffle", 1200, "melon and minced beef bao, in a jaffle"),
    Product("BEV-001", "tangaroo", "beverage", 600, "mango and tangerine smoothie"),
    Product("BEV-002", "chai and mighty", "beverage", 500, "oatmilk chai latte with protein"),
    Product("BEV-003", "vanilla ice", "beverage", 600, "iced coffee with vanilla syrup"),
    Product("BEV-004", "for richer or pourover", "beverage", 700, "daily selection of pourover"),
    Product("BEV-005", "adele-ade", "beverage", 400, "kiwi and lime agua fresca"),
)

# Ingredients and packaging; a supply id is shared by every SKU that uses it.
_SUPPLY_NAMES = {
    "SUP-001": ("compostable cutlery - knife", 7, False),
    "SUP-002": ("cutlery - fork", 7, False),
    "SUP-003": ("serving boat", 11, False),
    "SUP-004": ("napkin", 4, False),
    "SUP-005": ("16oz compostable clear cup", 13, False),
    "SUP-006": ("16oz compostable clear lid", 4, False),
    "SUP-007": ("biodegradable straw", 13, False),
    "SUP-008": ("chai mix", 98, True),
    "SUP-009": ("bread", 33, True),
    "SUP-010": ("cheese", 20, True),
    "SUP-011": ("nutella", 46, True),
    "SUP-012": ("banana", 13, True),
    "SUP-013": ("beef stew", 169, True),
    "SUP-014": ("lamb and pork bratwurst", 234, True),
    "SUP-015": ("house-made sauerkraut", 43, True),
    "SUP-016": ("lamb", 149, True),
    "SUP-017": ("mango", 32, True),
    "SUP-018": ("tangerine", 20, True),
    "SUP-019": ("pulled pork", 215, True),
    "SUP-020": ("pineapple", 26, True),
    "SUP-021": ("melon", 33, True),
    "SUP-022": ("minced beef", 124, True),
    "SUP-023": ("vanilla ice cream", 25, True),
    "SUP-024": ("oat milk", 11, True),
    "SUP-025": ("coffee", 52, True),
    "SUP-026": ("kiwi", 20, True),
    "SUP-027": ("lime", 13, True),
}
_JAFFLE_BASE = ("SUP-001", "SUP-002", "SUP-003", "SUP-004", "SUP-009", "SUP-010")
_DRINK_BASE = ("SUP-005", "SUP-006", "SUP-007")
_SUPPLIES_BY_SKU = {
    "JAF-001": (*_JAFFLE_BASE, "SUP-011", "SUP-012"),
    "JAF-002": (*_JAFFLE_BASE, "SUP-013"),
    "JAF-003": (*_JAFFLE_BASE, "SUP-014", "SUP-015"),
    "JAF-004": (*_JAFFLE_BASE, "SUP-016", "SUP-019", "SUP-020"),
    "JAF-005": (*_JAFFLE_BASE, "SUP-021", "SUP-022"),
    "BEV-001": (*_DRINK_BASE, "SUP-017", "SUP-018"),
    "BEV-002": (*_DRINK_BASE, "SUP-008", "SUP-024"),
    "BEV-003": (*_DRINK_BASE, "SUP-023", "SUP-025"),
    "BEV-004": (*_DRINK_BASE, "SUP-025"),
    "BEV-005": (*_DRINK_BASE, "SUP-026", "SUP-027"),
}
SUPPLIES = tuple(
    Supply(supply_id, *_SUPPLY_NAMES[supply_id], sku)
    for sku, supply_ids in _SUPPLIES_BY_SKU.items()
    for supply_id in supply_ids
)

FIRST_NAMES = tuple(
    (
        "Aaron Adriana Alex Amara Amy Andre Anna Ben Bianca Carlos Chloe Daniel Dana Diego "
        "Elena Emily Eric Fatima Grace Hana Hector Isaac Jade James Jasmine Jon Julia Kai Kim "
        "Laura Leo Lina Lucas Maya Mei Mohammed Nadia Noah Olivia Omar Priya Quinn Rosa Sam "
        "Sara Tariq Uma Victor Wendy Yusuf "
    ).split()
)
LAST_NAMES = tuple(
    (
        "Adams Ahmed Brown Chen Costa Davis Diaz Evans Fischer Garcia Gupta Hall Ito Jones "
        "Khan Kim Lee Lopez Martin Miller Nguyen Novak Okafor Patel Perez Quinn Rossi Santos "
        "Silva Smith Tanaka Taylor Torres Walker Wang White Wilson Wong Young Zhang "
    ).split()
)

TWEET_TEMPLATES = (
    "just had the {product} at jaffle shop and wow",
    "the {product} is a crime against breakfast. loved it",
    "who else is getting the {product} today?",
    "jaffle shop {product} > everything else",
    "not sure about the {product}, the queue was long",
    "tried the {product} for the first time. 10/10",
    "my order took forever but the {product} made up for it",
)
