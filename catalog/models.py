"""The demo's own models: what a team's app looks like before any sync client exists."""

from django.db import models


class Category(models.Model):
    code = models.CharField("code", max_length=20, unique=True, help_text="The shop's category code.")
    name = models.CharField("name", max_length=100, help_text="Display name.")

    class Meta:
        verbose_name = "category"
        verbose_name_plural = "categories"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Tag(models.Model):
    slug = models.SlugField("slug", max_length=40, unique=True, help_text="The shop's tag slug.")
    name = models.CharField("name", max_length=100, help_text="Display name.")

    class Meta:
        verbose_name = "tag"
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Product(models.Model):
    sku = models.CharField("SKU", max_length=40, unique=True, help_text="The shop's stock keeping unit.")
    name = models.CharField("name", max_length=200, help_text="Product title.")
    price = models.DecimalField("price", max_digits=10, decimal_places=2, help_text="Price in EUR.")
    category = models.ForeignKey(
        Category,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="products",
        verbose_name="category",
        help_text="Category, by its code.",
    )
    tags = models.ManyToManyField(
        Tag, blank=True, related_name="products", verbose_name="tags", help_text="Tags, by their slugs."
    )
    updated_at = models.DateTimeField("updated at", help_text="Last change at the shop.")
    is_active = models.BooleanField(
        "active", default=True, help_text="False once the shop no longer lists it."
    )

    class Meta:
        verbose_name = "product"
        ordering = ["sku"]

    def __str__(self) -> str:
        return self.sku
