-- coord_problem(lat_raw, lon_raw, prefix): reject struct for a bad coordinate pair, else null.
-- Both missing is not a problem here (required-ness is checked by the caller).
-- A typed double (Parquet) is used as it is (blank, as_double): its text (made only for a
-- detail) reads back as the same number, so the outcome is the one the text would give.
create or replace temp macro coord_problem(lat_raw, lon_raw, prefix) as
    case
        when blank(lat_raw) and blank(lon_raw) then null
        when blank(lat_raw) then reject('missing_required:' || prefix || 'lat', clean(lon_raw))
        when blank(lon_raw) then reject('missing_required:' || prefix || 'lon', clean(lat_raw))
        when not coalesce(isfinite(as_double(lat_raw)), false)
            then reject('bad_number:' || prefix || 'lat', clean(lat_raw))
        when not coalesce(isfinite(as_double(lon_raw)), false)
            then reject('bad_number:' || prefix || 'lon', clean(lon_raw))
        when abs(as_double(lat_raw)) > 90 then reject('lat_out_of_range', clean(lat_raw))
        when abs(as_double(lon_raw)) > 180 then reject('lon_out_of_range', clean(lon_raw))
        -- within 0.001 degrees (~100 m) of 0,0: a default or a lost projection (Denver publishes
        -- 0.0000012,-0.0000024), not a place (open sea in the Gulf of Guinea)
        when abs(as_double(lat_raw)) < 0.001 and abs(as_double(lon_raw)) < 0.001
            then reject('null_island', clean(lat_raw) || ',' || clean(lon_raw))
    end
