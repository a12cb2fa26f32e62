/**
 * Territories of the steering bodies that read indicators: an ARS (a
 * region) or a departmental council (a department). A `territory` client's
 * organization is `https://aiguillage.org/fhir/NamingSystem/territory|region-NN`
 * (INSEE region code) or `…|dept-NN` (department). Departments as the
 * indicators read them from postal codes: two characters, three overseas;
 * Corsica's postal codes start with 20 (2A and 2B are its departments'
 * official codes: all three are Corsica's).
 */
export const TERRITORY_SYSTEM = 'https://aiguillage.org/fhir/NamingSystem/territory';

/** The departments of each region (INSEE codes, 2016 regions). */
export const REGIONS: Readonly<Record<string, { name: string; departments: readonly string[] }>> = {
  '11': { name: 'Île-de-France', departments: ['75', '77', '78', '91', '92', '93', '94', '95'] },
  '24': { name: 'Centre-Val de Loire', departments: ['18', '28', '36', '37', '41', '45'] },
  '27': { name: 'Bourgogne-Franche-Comté', departments: ['21', '25', '39', '58', '70', '71', '89', '90'] },
  '28': { name: 'Normandie', departments: ['14', '27', '50', '61', '76'] },
  '32': { name: 'Hauts-de-France', departments: ['02', '59', '60', '62', '80'] },
  '44': { name: 'Grand Est', departments: ['08', '10', '51', '52', '54', '55', '57', '67', '68', '88'] },
  '52': { name: 'Pays de la Loire', departments: ['44', '49', '53', '72', '85'] },
  '53': { name: 'Bretagne', departments: ['22', '29', '35', '56'] },
  '75': { name: 'Nouvelle-Aquitaine', departments: ['16', '17', '19', '23', '24', '33', '40', '47', '64', '79', '86', '87'] },
  '76': { name: 'Occitanie', departments: ['09', '11', '12', '30', '31', '32', '34', '46', '48', '65', '66', '81', '82'] },
  '84': { name: 'Auvergne-Rhône-Alpes', departments: ['01', '03', '07', '15', '26', '38', '42', '43', '63', '69', '73', '74'] },
  '93': { name: 'Provence-Alpes-Côte d’Azur', departments: ['04', '05', '06', '13', '83', '84'] },
  '94': { name: 'Corse', departments: ['20', '2A', '2B'] },
  '01': { name: 'Guadeloupe', departments: ['971'] },
  '02': { name: 'Martinique', departments: ['972'] },
  '03': { name: 'Guyane', departments: ['973'] },
  '04': { name: 'La Réunion', departments: ['974'] },
  '06': { name: 'Mayotte', departments: ['976'] },
};

/** The departments of a territory key's value (`region-NN` or `dept-NN`), or undefined when it names none. */
export function territoryDepartments(value: string): readonly string[] | undefined {
  const region = /^region-(\d{2})$/.exec(value);
  if (region) return REGIONS[region[1]]?.departments;
  const department = /^dept-(\d{2,3}|2[AB])$/.exec(value);
  if (!department) return undefined;
  const code = department[1];
  // Corsica: the postal codes' 20 is either department.
  return code === '2A' || code === '2B' ? [code, '20'] : [code];
}
