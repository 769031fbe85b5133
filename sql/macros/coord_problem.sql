-- coord_problem(lat_raw, lon_raw, prefix): reject struct for a bad coordinate pair, else null.
-- Both missing is not a problem here (required-ness is checked by the caller).
create or replace temp macro coord_problem(lat_raw, lon_raw, prefix) as
    case
        when clean(lat_raw) is null and clean(lon_raw) is null then null
        when clean(lat_raw) is null then reject('missing_required:' || prefix || 'lat', clean(lon_raw))
        when clean(lon_raw) is null then reject('missing_required:' || prefix || 'lon', clean(lat_raw))
        when not coalesce(isfinite(try_cast(clean(lat_raw) as double)), false)
            then reject('bad_number:' || prefix || 'lat', clean(lat_raw))
        when not coalesce(isfinite(try_cast(clean(lon_raw) as double)), false)
            then reject('bad_number:' || prefix || 'lon', clean(lon_raw))
        when abs(try_cast(clean(lat_raw) as double)) > 90 then reject('lat_out_of_range', clean(lat_raw))
        when abs(try_cast(clean(lon_raw) as double)) > 180 then reject('lon_out_of_range', clean(lon_raw))
        when try_cast(clean(lat_raw) as double) = 0 and try_cast(clean(lon_raw) as double) = 0
            then reject('null_island', '0,0')
    end
