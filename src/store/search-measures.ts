/**
 * SQL of the measured parameters: age quantities on a numeric column (in
 * years), and great-circle distances (`near`, `near-insee-code`). Alias `t`.
 */
import { badRequest } from '../core/outcomes.js';
import { PREFIXES, type Prefix } from '../core/search/model.js';
import { raw, sql, trusted, type SqlFragment } from './sql.js';

function splitPrefix(value: string): { prefix: Prefix; rest: string } {
  const prefix = value.slice(0, 2);
  if ((PREFIXES as readonly string[]).includes(prefix) && /^[a-z]{2}\d/.test(value)) return { prefix: prefix as Prefix, rest: value.slice(2) };
  return { prefix: 'eq', rest: value };
}

/** Fractions of a year of the age units accepted in quantity searches. */
const YEAR_UNITS: Record<string, number> = { a: 1, mo: 1 / 12, wk: 7 / 365.25, d: 1 / 365.25 };

/** An age quantity (`[prefix]number[|system|unit]`, unit a, mo, wk or d) compared with a column in years. */
export function quantityCondition(column: string, value: string, expression: string): SqlFragment {
  const { prefix, rest } = splitPrefix(value);
  const [number, , unit] = rest.split('|');
  const factor = YEAR_UNITS[unit || 'a'];
  if (!/^-?\d+(\.\d+)?$/.test(number) || factor === undefined) {
    throw badRequest(`Invalid quantity "${value}": expected [prefix]number[|system|unit] with unit a, mo, wk or d`, expression);
  }
  const n = Number(number) * factor;
  const col = sql`t.${raw(column)}`;
  switch (prefix) {
    case 'eq':
      return sql`${col} = ${n}`;
    case 'ne':
      return sql`${col} <> ${n}`;
    case 'gt':
    case 'sa':
      return sql`${col} > ${n}`;
    case 'lt':
    case 'eb':
      return sql`${col} < ${n}`;
    case 'ge':
      return sql`${col} >= ${n}`;
    case 'le':
      return sql`${col} <= ${n}`;
    case 'ap':
      return sql`${col} BETWEEN ${n * 0.9} AND ${n * 1.1}`;
  }
}

/** Kilometres per distance unit accepted by `near` and `near-insee-code`. */
export const KM_PER: Record<string, number> = { km: 1, m: 0.001, '[mi_i]': 1.609344, mi: 1.609344 };
const EARTH_RADIUS_KM = 6371.0088;

/** `near=latitude|longitude|distance|unit` on two coordinate columns. */
export function nearCondition(latitudeColumn: string, longitudeColumn: string, value: string, expression: string): SqlFragment {
  const [latText, lonText, distanceText, unit] = value.split('|');
  const lat = Number(latText);
  const lon = Number(lonText);
  const distance = distanceText ? Number(distanceText) : 50;
  const factor = KM_PER[unit || 'km'];
  if (!/^-?[\d.]+$/.test(latText ?? '') || !/^-?[\d.]+$/.test(lonText ?? '') || Math.abs(lat) > 90 || Math.abs(lon) > 180 || !(distance >= 0) || factor === undefined) {
    throw badRequest(`Invalid near "${value}": expected latitude|longitude|distance|unit (unit km, m or [mi_i])`, expression);
  }
  const km = distance * factor;
  // A bounding box the index can use, then the exact great-circle distance.
  const dLat = (km / EARTH_RADIUS_KM) * (180 / Math.PI);
  const cosLat = Math.max(Math.cos((lat * Math.PI) / 180), 1e-6);
  const dLon = Math.min(180, dLat / cosLat);
  const la = sql`t.${raw(latitudeColumn)}`;
  const lo = sql`t.${raw(longitudeColumn)}`;
  return sql`(${la} BETWEEN ${lat - dLat} AND ${lat + dLat} AND ${lo} BETWEEN ${lon - dLon} AND ${lon + dLon}
    AND ${greatCircleWithin(la, lo, sql`${lat}::float8`, sql`${lon}::float8`, km)})`;
}

/** Whether two positions (SQL expressions, degrees) are within `km` of each other. */
export function greatCircleWithin(la: SqlFragment, lo: SqlFragment, lat: SqlFragment, lon: SqlFragment, km: number): SqlFragment {
  return sql`${trusted(String(2 * EARTH_RADIUS_KM))} * asin(sqrt(power(sin(radians(${la} - ${lat}) / 2), 2) + cos(radians(${lat})) * cos(radians(${la})) * power(sin(radians(${lo} - ${lon}) / 2), 2))) <= ${km}`;
}
