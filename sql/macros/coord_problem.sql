-- coord_problem(lat_raw, lon_raw, prefix): reject struct for a bad coordinate pair, else null.
-- Both missing is not a problem here (required-ness is checked by the caller).
-- A typed double (Parquet) is used as it is: its text (made only for a detail) reads back as
-- the same number, so the outcome is the one the text would give. typeof() is folded when the
-- query is bound.
create or replace temp macro coord_problem(lat_raw, lon_raw, prefix) as
    case
        when case when typeof(lat_raw) = 'DOUBLE' then lat_raw is null else clean(lat_raw) is null end
                and case when typeof(lon_raw) = 'DOUBLE' then lon_raw is null else clean(lon_raw) is null end
            then null
        when case when typeof(lat_raw) = 'DOUBLE' then lat_raw is null else clean(lat_raw) is null end
            then reject('missing_required:' || prefix || 'lat', clean(lon_raw))
        when case when typeof(lon_raw) = 'DOUBLE' then lon_raw is null else clean(lon_raw) is null end
            then reject('missing_required:' || prefix || 'lon', clean(lat_raw))
        when not coalesce(isfinite(case when typeof(lat_raw) = 'DOUBLE' then try_cast(lat_raw as double)
                                        else try_cast(clean(lat_raw) as double) end), false)
            then reject('bad_number:' || prefix || 'lat', clean(lat_raw))
        when not coalesce(isfinite(case when typeof(lon_raw) = 'DOUBLE' then try_cast(lon_raw as double)
                                        else try_cast(clean(lon_raw) as double) end), false)
            then reject('bad_number:' || prefix || 'lon', clean(lon_raw))
        when abs(case when typeof(lat_raw) = 'DOUBLE' then try_cast(lat_raw as double)
                      else try_cast(clean(lat_raw) as double) end) > 90
            then reject('lat_out_of_range', clean(lat_raw))
        when abs(case when typeof(lon_raw) = 'DOUBLE' then try_cast(lon_raw as double)
                      else try_cast(clean(lon_raw) as double) end) > 180
            then reject('lon_out_of_range', clean(lon_raw))
        when case when typeof(lat_raw) = 'DOUBLE' then try_cast(lat_raw as double)
                  else try_cast(clean(lat_raw) as double) end = 0
                and case when typeof(lon_raw) = 'DOUBLE' then try_cast(lon_raw as double)
                         else try_cast(clean(lon_raw) as double) end = 0
            then reject('null_island', '0,0')
    end
