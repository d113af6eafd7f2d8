"""Shopify-style calculated query cost for the fake (``requestedQueryCost``), simplified."""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    get_named_type,
    value_from_ast,
)

from app.shopify.fake.schema import SCHEMA

MAX_QUERY_COST = 1000
MUTATION_COST = 10


def query_cost(document: DocumentNode, variables: dict[str, Any] | None) -> int:
    """Requested cost: objects 1, scalars/enums 0, connections 2 + size x node cost, mutations 10."""
    fragments = {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if not ops:
        return 0
    op = ops[0]
    root = SCHEMA.mutation_type if op.operation.value == "mutation" else SCHEMA.query_type
    cost = _selection_cost(root, op.selection_set, fragments, variables or {})
    if op.operation.value == "mutation":
        cost += MUTATION_COST * len(op.selection_set.selections)
    return cost


def _selection_cost(parent: Any, selection_set: Any, fragments: dict, variables: dict) -> int:
    total = 0
    if selection_set is None:
        return 0
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            if not isinstance(parent, GraphQLObjectType) or sel.name.value not in parent.fields:
                continue
            fdef = parent.fields[sel.name.value]
            named = get_named_type(fdef.type)
            if sel.selection_set is None:
                continue
            if named.name.endswith("Connection"):
                size = 1
                for arg in sel.arguments or ():
                    if arg.name.value in ("first", "last"):
                        size = value_from_ast(arg.value, fdef.args[arg.name.value].type, variables) or 0
                node_type = SCHEMA.type_map[named.name[: -len("Connection")]]
                inner = 0
                for sub in sel.selection_set.selections:
                    if isinstance(sub, FieldNode) and sub.name.value == "edges" and sub.selection_set:
                        for e in sub.selection_set.selections:
                            if isinstance(e, FieldNode) and e.name.value == "node":
                                inner += 1 + _selection_cost(node_type, e.selection_set, fragments, variables)
                    elif isinstance(sub, FieldNode) and sub.name.value == "nodes":
                        inner += 1 + _selection_cost(node_type, sub.selection_set, fragments, variables)
                total += 2 + size * inner
            else:
                is_list = isinstance(fdef.type, GraphQLList) or (
                    isinstance(fdef.type, GraphQLNonNull) and isinstance(fdef.type.of_type, GraphQLList)
                )
                inner = 1 + _selection_cost(named, sel.selection_set, fragments, variables)
                total += inner * (10 if is_list and named.name != "String" else 1)
        elif isinstance(sel, InlineFragmentNode):
            target = SCHEMA.type_map[sel.type_condition.name.value] if sel.type_condition else parent
            total += _selection_cost(target, sel.selection_set, fragments, variables)
        elif isinstance(sel, FragmentSpreadNode) and sel.name.value in fragments:
            frag = fragments[sel.name.value]
            target = SCHEMA.type_map[frag.type_condition.name.value]
            total += _selection_cost(target, frag.selection_set, fragments, variables)
    return total
