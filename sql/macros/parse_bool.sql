-- parse_bool(x): true/false from the usual spellings; null for empty AND for unrecognised
-- text (staging tells these apart with bool_problem).
create or replace temp macro parse_bool(x) as
    case
        when lower(clean(x)) in ('true', 't', 'yes', 'y', '1') then true
        when lower(clean(x)) in ('false', 'f', 'no', 'n', '0') then false
    end
