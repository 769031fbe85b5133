-- vocab_recoded(x, allowed, alias_from): true when vocab_value() gives x its fallback: x is given
-- but, normalised as norm_enum does, neither an allowed value nor an alias.
create or replace temp macro vocab_recoded(x, allowed, alias_from) as
    clean(x) is not null
    and not list_contains(allowed, norm_enum(x, allowed))
    and not list_contains(alias_from, norm_enum(x, allowed))
