-- reject(code, value): the {r: reason code, d: offending value} struct staging uses.
create or replace temp macro reject(code, value) as {'r': cast(code as varchar), 'd': cast(value as varchar)}
