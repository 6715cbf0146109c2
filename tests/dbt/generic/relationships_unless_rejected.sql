{#- dbt's `relationships`, except for parents the ingestion rejected: a value of `column_name`
    with no row in `to` fails, unless the shop API's `rejected_from` table has a reject with
    that key (the audit model names it, and `assert_no_rejected_records` warns). So a row
    kept aside does not fail every test of its children, and the missing parent is explained
    rather than silent; it loads, and the check holds again, once the reject heals. -#}
{% test relationships_unless_rejected(model, column_name, to, field, rejected_from) %}

with

children as (

    select {{ column_name }} as child_key
    from {{ model }}
    where {{ column_name }} is not null

),

parents as (

    select {{ field }} as parent_key
    from {{ to }}

),

rejected_parents as (

    select rejected_key
    from {{ ref('audit_rejected_records') }}
    where source_table = '{{ rejected_from }}'

),

orphans as (

    select children.child_key
    from children
    left join parents on children.child_key = parents.parent_key
    where parents.parent_key is null

),

final as (

    select orphans.child_key
    from orphans
    left join rejected_parents on orphans.child_key = rejected_parents.rejected_key
    where rejected_parents.rejected_key is null

)

select * from final

{% endtest %}
