-- Store-wide settings fixed at init: H3 resolution of stored cells, time zone of ISO weeks.
create table settings (
    key   varchar not null,
    value varchar not null
)
