// A fake Open-Meteo provider for the weather server: /v1/search (geocoding) and /v1/forecast
// (current + daily) on 127.0.0.1, with fixed values the tests compare against, and failure
// modes: the place "Atlantis" is not found, latitude 13 answers HTTP 500 with a reason.
import http from 'node:http';

export const PLACE = {
  id: 4242, name: 'Testville', latitude: 48.5, longitude: 9.25, elevation: 410,
  country: 'Testland', country_code: 'TL', admin1: 'Upper Region', timezone: 'Europe/Berlin',
  population: 12345,
};
export const FAILING_LATITUDE = 13;

// The values the fake returns, in the unit system the request asked for.
export function currentValues(imperial) {
  return imperial
    ? { temperature_2m: 70.7, relative_humidity_2m: 55, apparent_temperature: 69.1,
      precipitation: 0.01, weather_code: 3, wind_speed_10m: 7.5, wind_direction_10m: 225 }
    : { temperature_2m: 21.5, relative_humidity_2m: 55, apparent_temperature: 20.6,
      precipitation: 0.3, weather_code: 3, wind_speed_10m: 12.1, wind_direction_10m: 225 };
}

export function dailyValues(days, imperial) {
  const d = { time: [], weather_code: [], temperature_2m_max: [], temperature_2m_min: [],
    precipitation_sum: [], precipitation_probability_max: [], wind_speed_10m_max: [] };
  for (let i = 0; i < days; i++) {
    d.time.push(`2026-01-${String(10 + i).padStart(2, '0')}`);
    d.weather_code.push(i % 2 ? 61 : 0);
    d.temperature_2m_max.push((imperial ? 60 : 15) + i);
    d.temperature_2m_min.push((imperial ? 40 : 5) - i);
    d.precipitation_sum.push(i * 1.5);
    d.precipitation_probability_max.push(10 * i);
    d.wind_speed_10m_max.push(20 + i);
  }
  return d;
}

function units(imperial, daily) {
  const t = imperial ? '°F' : '°C', w = imperial ? 'mp/h' : 'km/h', p = imperial ? 'inch' : 'mm';
  return daily
    ? { time: 'iso8601', weather_code: 'wmo code', temperature_2m_max: t, temperature_2m_min: t,
      precipitation_sum: p, precipitation_probability_max: '%', wind_speed_10m_max: w }
    : { time: 'iso8601', temperature_2m: t, relative_humidity_2m: '%', apparent_temperature: t,
      precipitation: p, weather_code: 'wmo code', wind_speed_10m: w, wind_direction_10m: '°' };
}

function answer(q, pathname) {
  if (pathname === '/v1/search') {
    const name = q.get('name') ?? '';
    if (name === 'Atlantis') return [200, { generationtime_ms: 0.1 }];  // no "results": none found
    const second = { ...PLACE, id: 4243, name: `${PLACE.name} Heights`, latitude: 48.6 };
    return [200, { results: [PLACE, second].slice(0, Number(q.get('count') ?? 10)) }];
  }
  if (pathname !== '/v1/forecast') return [404, { error: true, reason: `no route ${pathname}` }];
  const lat = Number(q.get('latitude')), lon = Number(q.get('longitude'));
  if (lat === FAILING_LATITUDE) return [500, { error: true, reason: 'fake provider is down' }];
  const imperial = q.get('temperature_unit') === 'fahrenheit';
  const body = { latitude: lat, longitude: lon, timezone: PLACE.timezone, elevation: 410 };
  if (q.has('current')) {
    body.current_units = units(imperial, false);
    body.current = { time: '2026-01-10T12:00', interval: 900, ...currentValues(imperial) };
  }
  if (q.has('daily')) {
    body.daily_units = units(imperial, true);
    body.daily = dailyValues(Number(q.get('forecast_days') ?? 7), imperial);
  }
  return [200, body];
}

// Starts the fake; `requests` records the URL of every request it received.
export async function startFakeOpenMeteo() {
  const requests = [];
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    requests.push(req.url);
    const [status, body] = answer(u.searchParams, u.pathname);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
