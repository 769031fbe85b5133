-- vocab_value(x, allowed, alias_from, alias_to, fallback): x in a closed vocabulary (issue 12 item 4):
-- normalised as norm_enum does; an allowed value is itself, an alias (alias_from[i]) is alias_to[i],
-- anything else is fallback (e.g. gender "other": free text never reaches an output); empty is null.
-- vocab_recoded() tells which values took the fallback (they are counted, never shown).
create or replace temp macro vocab_value(x, allowed, alias_from, alias_to, fallback) as
    case
        when clean(x) is null then null
        when list_contains(allowed, norm_enum(x, allowed)) then norm_enum(x, allowed)
        when list_contains(alias_from, norm_enum(x, allowed)) then alias_to[list_position(alias_from, norm_enum(x, allowed))]
        else fallback
    end
