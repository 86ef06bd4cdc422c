// A dashboard as the URL and its JSON file keep it.

export interface DashboardGraph {
  title: string;
  targets: string[];
}

export interface Dashboard {
  title: string;
  from: string;
  until: string;
  graphs: DashboardGraph[];
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((one): one is string => typeof one === "string" && one.trim() !== "") : [];
}

/** Checks a decoded dashboard; throws with what is wrong. */
export function validDashboard(value: unknown): Dashboard {
  if (typeof value !== "object" || value === null) throw new Error("a dashboard is a JSON object");
  const object = value as Record<string, unknown>;
  if (object.graphs !== undefined && !Array.isArray(object.graphs)) throw new Error("graphs must be a list");
  const graphs = ((object.graphs as unknown[] | undefined) ?? []).map((graph, index) => {
    if (typeof graph !== "object" || graph === null) throw new Error(`graph ${index + 1} is not an object`);
    const one = graph as Record<string, unknown>;
    const targets = strings(one.targets);
    if (targets.length === 0) throw new Error(`graph ${index + 1} has no targets`);
    return { title: typeof one.title === "string" ? one.title : "", targets };
  });
  return {
    title: typeof object.title === "string" ? object.title : "",
    from: typeof object.from === "string" && object.from ? object.from : "-6h",
    until: typeof object.until === "string" && object.until ? object.until : "now",
    graphs,
  };
}

/** Reads `?d=<json>`; an unreadable one is an empty dashboard unless `strict`. */
export function parseDashboard(search: string, strict = false): Dashboard {
  const text = new URLSearchParams(search).get("d");
  if (!text) return validDashboard({});
  try {
    return validDashboard(JSON.parse(text));
  } catch (error) {
    if (strict) throw error;
    return validDashboard({});
  }
}

export function serializeDashboard(dashboard: Dashboard): string {
  return new URLSearchParams({ d: JSON.stringify(dashboard) }).toString();
}
